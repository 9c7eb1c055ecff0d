// Package faults is the gateway's fault suite: tests that drive the real binaries, cmd/gateway in
// front of cmd/livechat-emulator with its cache on a real redis-server, each a process of its
// own, through sick upstreams, a sick Redis, shutdown under load, bursts and hostile clients, and
// assert on figures that an operator would read (status codes, latencies, RSS, file
// descriptors). Each test logs its figures as "FIGURE <name>: <value>" lines.
//
// The tests carry the build tag faults, so that `go test ./...` leaves them out:
//
//	go test -tags faults -count=1 ./internal/faults
//
// They need redis-server on PATH (see internal/testutil/redistest) and build both binaries once,
// without -race, so that the memory figures are those of a production build.
package faults
