# The commands that README.md names; CI runs `make test` through .ci/run.
#
# Tools are Go tools, so nothing but Go has to be installed: the protoc plugins are pinned in
# go.mod (at the versions of the runtime libraries the gateway links), buf and staticcheck in
# tools/go.mod (which keeps their dependency graphs out of the gateway's).
SHELL := /bin/bash
BUF := go tool -modfile=tools/go.mod buf
STATICCHECK := go tool -modfile=tools/go.mod staticcheck
FUZZTIME ?= 30s

.PHONY: all generate check-generated check-generated-clients lint test test-faults openapi-check examples fuzz emulator run bench bench-micro

all: test

# OPENAPI31 converts the Swagger 2.0 document buf generates into the OpenAPI 3.1 one
# (cmd/openapi31); $(1) is the directory that holds gen/.
OPENAPI31 = go run ./cmd/openapi31 -in $(1)/gen/openapiv2/configuration.swagger.json -out $(1)/gen/openapi/configuration.openapi.json

# CLIENT_GEN is what buf.gen.clients.yaml generates: the TypeScript and Python stubs, with
# google.rpc's Status and error details. The rest of clients/ is written by hand.
CLIENT_GEN := clients/typescript/src/gen clients/python/livechat clients/python/google

# PROTOSET writes the FileDescriptorSet of proto/ and its imports, with source info (the proto
# comments), to $(1)/gen/configuration.protoset: for grpcurl and ghz -protoset (ghz's own parser
# rejects proto3 optional; reflection carries no comments, since protoc-gen-go strips them).
PROTOSET = $(BUF) build --as-file-descriptor-set -o $(1)/gen/configuration.protoset

# generate: regenerate gen/ (Go, gRPC, gateway code, the Swagger 2.0 document and the OpenAPI 3.1
# document converted from it, the descriptor set) and the client stubs (CLIENT_GEN) from proto/.
# The client stubs need npm and Debian's protobuf-compiler and protobuf-compiler-grpc
# (clients/tools.sh says so).
generate:
	$(BUF) generate
	$(call OPENAPI31,.)
	$(call PROTOSET,.)
	clients/tools.sh
	rm -rf $(CLIENT_GEN)
	$(BUF) generate --template buf.gen.clients.yaml

# check-generated: fail when gen/ is not exactly what proto/ generates. It generates into a
# temporary directory, so it neither needs nor touches a clean work tree.
check-generated:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BUF) generate -o "$$tmp" && \
	$(call OPENAPI31,"$$tmp") && \
	$(call PROTOSET,"$$tmp") && \
	if ! diff -r gen "$$tmp/gen"; then \
		echo "gen/ is stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi && echo "gen/ is up to date"
	@$(MAKE) --no-print-directory check-generated-clients

# check-generated-clients: the same for the client stubs. Without their tools it is skipped,
# saying so, except in CI (CI set), where it must run.
check-generated-clients:
	@if ! clients/tools.sh; then \
		if [ -n "$${CI:-}" ]; then exit 1; fi; \
		echo "check-generated: SKIPPED the client stubs: their tools are missing (CI checks them)"; exit 0; \
	fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BUF) generate --template buf.gen.clients.yaml -o "$$tmp" && \
	stale=; for d in $(CLIENT_GEN); do diff -r -x __pycache__ "$$d" "$$tmp/$$d" || stale=1; done; \
	if [ -n "$$stale" ]; then \
		echo "the client stubs are stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi; echo "the client stubs ($(CLIENT_GEN)) are up to date"

# lint: buf lint and format, gofmt, go vet, staticcheck, and tidy go.mod files.
lint:
	$(BUF) lint
	$(BUF) format -d --exit-code
	@bad=$$(gofmt -l $$(find . -name '*.go' -not -path './gen/*')); \
	if [ -n "$$bad" ]; then echo "gofmt would change: $$bad" >&2; exit 1; fi
	go vet -tags faults ./...
	$(STATICCHECK) -tags faults ./...
	go mod tidy -diff
	cd tools && go mod tidy -diff
	cd deploy && go vet ./...
	cd deploy && go mod tidy -diff

# test: everything CI checks: fresh gen/, lint, every test with the race detector, the fault
# suite, the TypeScript client generated from the OpenAPI 3.1 document, and the client examples.
test: check-generated lint
	go test -race -count=1 ./...
	cd deploy && go test -count=1 ./...
	$(MAKE) test-faults
	$(MAKE) openapi-check
	$(MAKE) examples

# examples: run the TypeScript, Python and Node proto-loader examples (examples/*/run) against a
# `gateway -dev` that examples/run builds, starts on free ports and stops. They need node, npm and
# Debian's python3-grpcio and python3-protobuf (.ci/run installs them).
examples:
	examples/run

# openapi-check: validate gen/openapi/configuration.openapi.json (served at /openapi.json) as
# OpenAPI 3.1, generate TypeScript types from it with openapi-typescript and type-check a client's
# use of them (clients/openapi-check, versions pinned in its package-lock.json). Skipped, saying
# so, when node or npm is missing outside CI.
openapi-check:
	clients/openapi-check/check.sh

# test-faults: the fault suite (internal/faults): the real gateway and emulator binaries and a
# real redis-server, under upstream faults, Redis outages, SIGTERM, bursts and hostile clients. It
# builds the binaries without the race detector, so that the memory figures it reports are real.
test-faults:
	@set -o pipefail; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	go test -tags faults -count=1 -timeout 10m -v ./internal/faults 2>&1 | tee "$$log"; rc=$$?; \
	echo "== fault suite figures"; grep -oE 'FIGURE .*' "$$log"; exit $$rc

# fuzz: run each fuzz target for FUZZTIME (go test runs only their seeds).
fuzz:
	go test ./internal/rest -run '^$$' -fuzz '^FuzzRequestDecoding$$' -fuzztime $(FUZZTIME)
	go test ./internal/rest -run '^$$' -fuzz '^FuzzResponseDecoding$$' -fuzztime $(FUZZTIME)
	go test ./internal/emulator -run '^$$' -fuzz '^FuzzAction$$' -fuzztime $(FUZZTIME)
	go test ./internal/spec -run '^$$' -fuzz '^FuzzCheckBody$$' -fuzztime $(FUZZTIME)
	go test ./internal/service -run '^$$' -fuzz '^FuzzEntry$$' -fuzztime $(FUZZTIME)
	go test ./internal/upstream -run '^$$' -fuzz '^FuzzAnswer$$' -fuzztime $(FUZZTIME)
	go test ./internal/server -run '^$$' -fuzz '^FuzzREST$$' -fuzztime $(FUZZTIME)
	go test ./internal/wire -run '^$$' -fuzz '^FuzzCheckDepth$$' -fuzztime $(FUZZTIME)
	go test ./internal/webhooks -run '^$$' -fuzz '^FuzzDelivery$$' -fuzztime $(FUZZTIME)
	go test ./internal/webhooks -run '^$$' -fuzz '^FuzzSubscribeQuery$$' -fuzztime $(FUZZTIME)

# emulator: serve the offline Configuration API on 127.0.0.1:8081; ARGS passes flags, such as
# ARGS='-config internal/emulator/testdata/spec-world.json'.
emulator:
	go run ./cmd/livechat-emulator $(ARGS)

# run: serve the gateway; ARGS='-dev' uses an in-process emulator as the upstream.
run:
	go run ./cmd/gateway $(ARGS)

# bench: the load benchmark (bench/run, explained in docs/performance.md): the baselines and the
# gateway, each server in a process of its own, under ghz (gRPC) and bench/load (REST), one
# table of ratios to the baselines measured in the same run. About 3 minutes (a minute more the
# first time, to build ghz); ARGS passes flags, such as ARGS='-profile cpu.pprof' (a CPU profile
# of a gRPC hit) or ARGS='-only Redis'.
bench:
	go run ./bench/run $(ARGS)

# bench-micro: the hot path's Go benchmarks (key derivation, sealing and opening, hit decode,
# request encoding and checks, error mapping, whole calls in process), with allocations; a fixed
# count per benchmark keeps it quick. Compare ratios within a run, not times across runs.
bench-micro:
	go test -run '^$$' -bench . -benchmem -benchtime 2000x ./internal/service ./internal/rest ./internal/server
