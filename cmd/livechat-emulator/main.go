// Command livechat-emulator serves an offline LiveChat Configuration API v3.2 (see
// internal/emulator) over HTTP.
//
//	livechat-emulator [-addr 127.0.0.1:8081] [-config extra.json]
//	livechat-emulator [-addr 127.0.0.1:8081] -healthcheck
//
// With -healthcheck it serves nothing: it asks the emulator listening on -addr for GET
// /emulator/stats and exits 0 if that answers 200, else 1. The image has no shell or curl, so a
// container's health check runs the binary itself, as the gateway's does.
//
// EMULATOR_LATENCY, EMULATOR_ERROR_RATE and EMULATOR_THROTTLE_RATE inject latency, 500s and
// 429s; EMULATOR_DEPRECATION sets the Deprecation date, and EMULATOR_LEGACY sends a Legacy header
// instead; EMULATOR_CONFIG names a config file when -config is not given. At start it prints its
// tokens and the address it listens on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/livechat-gateway/gateway/internal/emulator"
	hc "github.com/livechat-gateway/gateway/internal/healthcheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "livechat-emulator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("livechat-emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	configFile := fs.String("config", getenv("EMULATOR_CONFIG"), "JSON file of more licenses and tokens")
	check := fs.Bool("healthcheck", false, "call GET /emulator/stats on -addr and exit 0 if it answers 200, else 1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *check {
		return healthcheck(ctx, *addr, out)
	}
	opts, err := emulator.OptionsFromEnv(getenv)
	if err != nil {
		return err
	}
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return err
		}
		c, err := emulator.ParseConfig(b)
		if err != nil {
			return err
		}
		opts = append(opts, emulator.WithConfig(c))
	}
	e, err := emulator.New(opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "LiveChat Configuration API v3.2 emulator. Tokens (Authorization: Bearer <token>):")
	for _, t := range e.Tokens() {
		fmt.Fprintf(out, "  %-16s license %s, agent %s, client id %s, scopes %v\n", t.Token, t.License, t.Agent, t.ClientID, t.Scopes)
	}
	fmt.Fprintf(out, "listening on http://%s\n", ln.Addr())

	// ConnState feeds the connection counts of GET /emulator/stats.
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ConnState: e.ConnState}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// healthcheck asks the emulator listening on addr for its stats, the cheapest endpoint that goes
// through its handler, and prints one line: on out when it answered 200, else in the error.
func healthcheck(ctx context.Context, addr string, out io.Writer) error {
	return hc.Get(ctx, http.DefaultClient, "http", addr, "/emulator/stats", "-addr", out)
}
