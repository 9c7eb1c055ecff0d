// Command gateway serves the LiveChat Configuration API v3.2 over gRPC and REST (see README.md).
//
//	gateway        configured by the environment (GATEWAY_GRPC_ADDR, LIVECHAT_API_URL, ...)
//	gateway -dev   the same, with an in-process emulator as the upstream: works offline; the
//	               emulator's webhooks are delivered to the gateway's own receiver, and the help
//	               it prints shows how to subscribe to them and fire an event
//	gateway -healthcheck
//	               asks the gateway of this environment's GATEWAY_HTTP_ADDR for /healthz and exits
//	               0 if it answers 200, else 1: a container health check without a shell or curl
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set;
// then spans are exported with OTLP, and the last ones are flushed on exit (docs/observability.md).
//
// It stops gracefully on SIGINT or SIGTERM: it reports not ready for GATEWAY_DRAIN_DELAY (0 with
// -dev unless set), then lets in-flight calls finish. A second signal stops it at once.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/emulator"
	hc "github.com/livechat-gateway/gateway/internal/healthcheck"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/tracing"
	"github.com/livechat-gateway/gateway/internal/webhooks"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts the graceful shutdown; a second one stops the process at once.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "use an in-process emulator of the LiveChat API as the upstream (offline)")
	check := fs.Bool("healthcheck", false, "call /healthz on GATEWAY_HTTP_ADDR and exit 0 if it answers 200, else 1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *check {
		addr := getenv("GATEWAY_HTTP_ADDR")
		if addr == "" {
			addr = server.Defaults().HTTPAddr
		}
		// TLS_CERT_FILE alone tells whether the listener serves TLS: the check needs none of the
		// files (see healthcheck).
		return healthcheck(ctx, addr, getenv("TLS_CERT_FILE") != "", stdout)
	}
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	cache.LogTo(log)
	if names := unknownEnv(environ); len(names) > 0 {
		// Names only: a value may be a secret.
		log.Warn("environment variables named like the gateway's that it does not read (a typo?)", "names", names)
	}

	var emu *emulator.Emulator
	var deliveries *receiverTransport // -dev's emulator's, set to the receiver once it is built
	if *dev {
		if getenv("GATEWAY_DRAIN_DELAY") == "" {
			cfg.DrainDelay = 0 // no load balancer to tell: Ctrl-C stops at once
		}
		var stopEmu func()
		deliveries = &receiverTransport{}
		if emu, stopEmu, err = startEmulator(getenv, &cfg, emulator.WithDeliveryClient(&http.Client{Transport: deliveries})); err != nil {
			return err
		}
		defer stopEmu()
	}
	tp, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer tp.flush()
	g, err := server.New(cfg, log, server.WithTracerProvider(tp.TracerProvider))
	if err != nil {
		return err
	}
	if *dev {
		deliveries.set(g.WebhookReceiver())
		scheme := "http"
		if cfg.TLS() {
			scheme = "https"
		}
		receiverURL := scheme + "://" + loopback(g.WebhookAddr()) + "/webhooks"
		hooks, err := registerDevWebhooks(ctx, g.Conn(), receiverURL)
		if err != nil {
			// The gateway serves anyway: only the webhook walk-through is missing.
			log.Warn("gateway -dev: its webhooks could not be registered; no webhook commands are printed", "err", err)
		}
		printDevHelp(stdout, emu, g.GRPCAddr(), g.HTTPAddr(), cfg, hooks)
	}
	return g.Run(ctx)
}

// tracingFlushTimeout bounds the export of the last spans on exit: a collector that does not
// answer must not hold the process after its servers have stopped.
const tracingFlushTimeout = 5 * time.Second

// tracerProvider is the process's tracing, with the flush of its last spans.
type tracerProvider struct {
	trace.TracerProvider
	shutdown func(context.Context) error
	log      *slog.Logger
}

// startTracing sets tracing up from the OTEL_* variables (see internal/tracing): off, the no-op
// provider, with which the gateway installs no instrumentation.
func startTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (*tracerProvider, error) {
	tp, shutdown, err := tracing.FromEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	if tracing.Enabled(tp) {
		// The SDK reports failed exports through the global handler, by default a plain
		// logger on stderr: in the gateway's JSON log instead. Only the error: its text names
		// the endpoint, never the headers (OTEL_EXPORTER_OTLP_HEADERS may hold a key).
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
		log.Info("tracing on: spans are exported with OTLP")
	}
	return &tracerProvider{TracerProvider: tp, shutdown: shutdown, log: log}, nil
}

// flush exports the spans not yet exported and stops the exporter, within tracingFlushTimeout.
func (t *tracerProvider) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	if err := t.shutdown(ctx); err != nil {
		t.log.Warn("tracing: the last spans were not all exported", "err", err)
	}
}

// envPrefixes start the names of the gateway's own variables: a name with one of them that the
// gateway does not read is most likely a typo, and the setting it meant is not applied. TLS_ is
// one: a misspelt TLS_CLIENT_CA_FILE would silently turn client certificates off.
var envPrefixes = []string{"GATEWAY_", "CACHE_", "UPSTREAM_", "TLS_", "WEBHOOK_"}

// unknownEnv returns, sorted, the names in environ (NAME=value entries, as os.Environ) that start
// with one of envPrefixes and that server.ConfigFromEnv does not read.
func unknownEnv(environ []string) []string {
	known := server.EnvNames()
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !known[name] && slices.ContainsFunc(envPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return slices.Compact(unknown)
}

// startEmulator serves an emulator on a free loopback port and points cfg at it. The emulator
// reads the same EMULATOR_* variables as cmd/livechat-emulator; extra options follow them.
func startEmulator(getenv func(string) string, cfg *server.Config, extra ...emulator.Option) (*emulator.Emulator, func(), error) {
	opts, err := emulator.OptionsFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	e, err := emulator.New(append(opts, extra...)...)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	cfg.UpstreamURL = "http://" + ln.Addr().String()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.Close()
		}
	}
	return e, stop, nil
}

// printDevHelp prints what a newcomer needs to call the dev gateway of cfg, and to watch the
// webhook deliveries of hooks (nil when they could not be registered). Its last line is
// devHelpEnd.
func printDevHelp(w io.Writer, e *emulator.Emulator, grpcAddr, httpAddr net.Addr, cfg server.Config, hooks *devWebhooks) {
	httpHost := loopback(httpAddr)
	grpcHost := loopback(grpcAddr)
	scheme, curlTLS, grpcurlTLS := "http", "", "-plaintext"
	if cfg.TLS() {
		// The CA of TLS_CERT_FILE is not in the configuration: name it for the reader to fill in.
		scheme, curlTLS, grpcurlTLS = "https", "--cacert CA.pem ", "-cacert CA.pem"
		if cfg.TLSClientCAFile != "" {
			curlTLS += "--cert client.pem --key client-key.pem "
			grpcurlTLS += " -cert client.pem -key client-key.pem"
		}
	}
	fmt.Fprintf(w, "gateway -dev: gRPC on %s, REST on %s://%s, upstream: an in-process emulator at %s\n\n", grpcHost, scheme, httpHost, cfg.UpstreamURL)
	fmt.Fprintln(w, "Emulator tokens (Authorization: Bearer <token>):")
	for _, t := range e.Tokens() {
		fmt.Fprintf(w, "  %-16s license %s, agent %s, scopes %s\n", t.Token, t.License, t.Agent, strings.Join(t.Scopes, " "))
	}
	fmt.Fprintf(w, `
Try:
  curl -s %s%s://%s/v3.2/configuration/action/list_groups \
    -H 'Authorization: Bearer dal:owner-a' -H 'Content-Type: application/json' -d '{}'
  grpcurl %s -H 'authorization: Bearer dal:owner-a' -d '{"id": "owner-a@example.com"}' \
    %s livechat.configuration.v1.AgentService/GetAgent
`, curlTLS, scheme, httpHost, grpcurlTLS, grpcHost)
	if hooks != nil {
		fmt.Fprintf(w, `
Webhooks: license %s has webhooks of %s, registered through the gateway
as %s with the URL of its receiver, %s (ids %s);
the emulator delivers their events there. Watch them arrive over gRPC:
  grpcurl %s -H 'authorization: Bearer %s' -d '{"license_id": "%s"}' \
    %s livechat.configuration.v1.WebhookService/SubscribeWebhooks
or as server-sent events:
  curl -sN %s'%s://%s%s?license_id=%s' \
    -H 'Authorization: Bearer %s'
and, in another terminal, fire an event at the emulator (the same body again is taken for a retry
and stored once: change the chat id to fire another; deleting an agent fires agent_deleted):
  curl -s %s/emulator/events -H 'Content-Type: application/json' \
    -d '%s'
`, devLicense, strings.Join(devActions, " and "), devToken, hooks.receiverURL, strings.Join(hooks.ids, ", "),
			grpcurlTLS, devToken, devLicense, grpcHost,
			curlTLS, scheme, httpHost, webhooks.SSEPath, devLicense, devToken,
			cfg.UpstreamURL, devEvent)
	}
	fmt.Fprintf(w, "\n%s\n", devHelpEnd)
}

// devHelpEnd is the last line of -dev's help.
const devHelpEnd = "Ctrl-C stops the gateway."

// loopback returns addr with an unspecified host replaced by localhost, for copy and paste.
func loopback(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// healthcheck calls /healthz on the gateway listening on addr (an unspecified host stands for
// 127.0.0.1), over TLS if useTLS, and prints one line: on stdout when it answered 200, else in
// the error.
//
// Over TLS it checks neither the certificate's chain nor its name: it calls its own container's
// gateway on a loopback address, sends nothing secret (no token, no client certificate), and
// trusts the answer's status only, while the CA that signed the gateway's certificate is not in
// the gateway's configuration to check it against. It presents no client certificate either:
// /healthz is the one path the gateway serves without one when client certificates are on, and
// TLS_CERT_FILE, a server certificate, would usually not verify as a client's.
func healthcheck(ctx context.Context, addr string, useTLS bool, stdout io.Writer) error {
	scheme, client := "http", http.DefaultClient
	if useTLS {
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, // see above
		}}
	}
	return hc.Get(ctx, client, scheme, addr, "/healthz", "GATEWAY_HTTP_ADDR", stdout)
}
