#!/usr/bin/env bash
# Checks that the gateway's OpenAPI 3.1 document (gen/openapi/configuration.openapi.json, served at
# /openapi.json) is usable by the most common generator: it validates the document against the
# OpenAPI specification's JSON schema (@seriousme/openapi-schema-validator), generates TypeScript
# types from it with openapi-typescript, and type-checks use.ts against them with tsc --noEmit.
# The versions are pinned in package-lock.json; `make test` runs this script. Without node and
# npm it is skipped, with a message, except in CI (CI set), where it must run.
set -euo pipefail
cd "$(dirname "$0")"
doc=../../gen/openapi/configuration.openapi.json

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ -n "${CI:-}" ]; then
		echo "openapi-check: node and npm are required in CI" >&2
		exit 1
	fi
	echo "openapi-check: SKIPPED: node or npm is not installed (CI runs this check)"
	exit 0
fi
# .ci/run installs from the lock file; a work tree without node_modules, or with one older than
# the lock file, gets the same.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
	npm ci --no-audit --no-fund
fi

node --input-type=module -e '
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
const v = new Validator();
const r = await v.validate(JSON.parse(readFileSync(process.argv[1], "utf8")));
if (v.version !== "3.1") { console.error("openapi-check: the document is OpenAPI " + v.version + ", want 3.1"); process.exit(1); }
if (!r.valid) { console.error("openapi-check: the document is not valid OpenAPI 3.1:", JSON.stringify(r.errors, null, 2)); process.exit(1); }
console.log("openapi-check: the document is valid OpenAPI " + v.version);
' "$doc"
mkdir -p gen
npx --no-install openapi-typescript "$doc" --output gen/schema.ts --silent
npx --no-install tsc --noEmit -p tsconfig.json
echo "openapi-check: openapi-typescript's client of /openapi.json type-checks"
