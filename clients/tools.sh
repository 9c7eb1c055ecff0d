#!/usr/bin/env bash
# Makes ready, or reports missing, the tools that buf.gen.clients.yaml runs: protoc-gen-es and
# google-proto-files from clients/typescript/node_modules (installed here from its
# package-lock.json when missing or older than it), and Debian's protoc 3.21 (protobuf-compiler)
# grpc_python_plugin (protobuf-compiler-grpc) and protoc-gen-mypy_grpc (mypy-protobuf). Another protoc would generate other code, and
# the freshness check would report it stale. Exits 1, saying what to install, when one is missing.
set -euo pipefail
cd "$(dirname "$0")"

fail() {
	echo "client stubs: $*" >&2
	exit 1
}
command -v npm >/dev/null || fail "npm is missing (Debian: apt-get install nodejs npm)"
[ -x /usr/bin/protoc ] || fail "/usr/bin/protoc is missing: apt-get install protobuf-compiler"
version=$(/usr/bin/protoc --version)
[[ $version == "libprotoc 3.21."* ]] || fail "/usr/bin/protoc is $version, not Debian's 3.21 that generated clients/python"
command -v grpc_python_plugin >/dev/null || fail "grpc_python_plugin is missing: apt-get install protobuf-compiler-grpc"
command -v protoc-gen-mypy_grpc >/dev/null || fail "protoc-gen-mypy_grpc is missing: apt-get install mypy-protobuf"
cd typescript
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
	npm ci --no-audit --no-fund >&2
fi
