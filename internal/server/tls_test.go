package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
	"github.com/livechat-gateway/gateway/internal/testutil/testpki"
)

// tlsEnv is a gateway serving TLS, in front of an in-process emulator.
type tlsEnv struct {
	t        *testing.T
	ca       *testpki.CA
	srv      *testpki.Pair // the server's certificate, in the files TLS_CERT_FILE/KEY_FILE name
	client   *testpki.Pair // a client certificate of ca
	grpcAddr string
	httpURL  string
	// webhookURL is POST /webhooks's URL, on GATEWAY_WEBHOOK_ADDR's listener when set.
	webhookURL string
	logs       *testutil.SyncBuffer
}

// startTLS starts a gateway with TLS on both listeners and, if mutual, client certificates of
// the test CA required.
func startTLS(t *testing.T, mutual bool) *tlsEnv {
	t.Helper()
	return startTLSWith(t, mutual, nil)
}

// startTLSWith is startTLS with the configuration adjusted by mutate (nil: none).
func startTLSWith(t *testing.T, mutual bool, mutate func(*server.Config)) *tlsEnv {
	t.Helper()
	_, up := startEmulator(t)
	ca := testpki.NewCA(t, "test CA")
	v := &tlsEnv{t: t, ca: ca, srv: ca.Server().WriteFiles(), client: ca.Client("test client"), logs: &testutil.SyncBuffer{}}
	cfg := server.Defaults()
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.UpstreamURL = "127.0.0.1:0", "127.0.0.1:0", up.URL
	cfg.ShutdownTimeout, cfg.DrainDelay = 5*time.Second, 0
	cfg.TLSCertFile, cfg.TLSKeyFile = v.srv.CertFile, v.srv.KeyFile
	if mutual {
		cfg.TLSClientCAFile = ca.File
	}
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := server.New(cfg, slog.New(slog.NewJSONHandler(v.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	v.grpcAddr, v.httpURL = g.GRPCAddr().String(), "https://"+g.HTTPAddr().String()
	v.webhookURL = "https://" + g.WebhookAddr().String() + "/webhooks"
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := testutil.Recv(t, "Run's return", stopped); err != nil {
			t.Errorf("Run: %v", err)
		}
		logs := v.logs.String()
		checkNoTokens(t, logs)
		for _, p := range []*testpki.Pair{v.srv, v.client} {
			if strings.Contains(logs, string(p.KeyPEM[40:80])) {
				t.Errorf("the gateway logged a private key:\n%s", logs)
			}
		}
	})
	// /readyz answers without a client certificate, whatever the mode.
	c := v.httpClient(nil, false)
	testutil.Eventually(t, "the gateway ready over TLS", func() bool {
		resp, err := c.Get(v.httpURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return v
}

// clientTLS returns a client configuration that trusts the test CA and presents cert (nil: none).
func (v *tlsEnv) clientTLS(cert *testpki.Pair) *tls.Config {
	c := &tls.Config{RootCAs: v.ca.Pool}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.TLS}
	}
	return c
}

// httpClient returns a client of its own (new connections) presenting cert, over HTTP/2 or, if
// not h2, HTTP/1.1.
func (v *tlsEnv) httpClient(cert *testpki.Pair, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: v.clientTLS(cert), ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	v.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// restCall posts list_agents with c and returns the answer's status, protocol major version, body
// and server certificate serial.
func (v *tlsEnv) restCall(c *http.Client, path string) (int, int, string, *big.Int, error) {
	v.t.Helper()
	method, body := http.MethodPost, `{}`
	if !strings.HasPrefix(path, "/v3.2/") {
		method, body = http.MethodGet, ""
	}
	req, err := http.NewRequest(method, v.httpURL+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ownerA)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return resp.StatusCode, resp.ProtoMajor, string(b), resp.TLS.PeerCertificates[0].SerialNumber, nil
}

// grpcCall calls AgentService/ListAgents through the generated client on a new connection that
// presents cert, and returns the server certificate's serial.
func (v *tlsEnv) grpcCall(cert *testpki.Pair) (*big.Int, error) {
	v.t.Helper()
	conn, err := grpc.NewClient(v.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(v.clientTLS(cert))))
	if err != nil {
		v.t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+ownerA)
	var p peer.Peer
	resp, err := configv1.NewAgentServiceClient(conn).ListAgents(ctx, &configv1.ListAgentsRequest{}, grpc.Peer(&p))
	if err != nil {
		return nil, err
	}
	if len(resp.GetAgents()) == 0 {
		v.t.Errorf("ListAgents over TLS: no agents")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		v.t.Fatalf("the gRPC peer's auth info is %T, not TLS", p.AuthInfo)
	}
	return info.State.PeerCertificates[0].SerialNumber, nil
}

// TestTLSListeners: with TLS_CERT_FILE and TLS_KEY_FILE, both listeners serve TLS: a gRPC call
// through the generated client, REST over HTTP/2 and HTTP/1.1, /healthz; plaintext and TLS 1.1
// are refused.
func TestTLSListeners(t *testing.T) {
	v := startTLS(t, false)
	if serial, err := v.grpcCall(nil); err != nil || serial.Cmp(v.srv.Serial) != 0 {
		t.Errorf("ListAgents over TLS: serial %v, %v; want %v, no error", serial, err, v.srv.Serial)
	}
	for _, h2 := range []bool{true, false} {
		code, proto, body, _, err := v.restCall(v.httpClient(nil, h2), "/v3.2/configuration/action/list_agents")
		if want := map[bool]int{true: 2, false: 1}[h2]; err != nil || code != http.StatusOK || proto != want {
			t.Errorf("REST list_agents over TLS (h2 %v) = %d HTTP/%d %s, %v; want 200 over HTTP/%d", h2, code, proto, body, err, want)
		}
		if code, _, _, _, err := v.restCall(v.httpClient(nil, h2), "/healthz"); err != nil || code != http.StatusOK {
			t.Errorf("/healthz over TLS (h2 %v) = %d, %v", h2, code, err)
		}
	}

	// Plaintext on the TLS listeners.
	resp, err := http.Get(strings.Replace(v.httpURL, "https://", "http://", 1) + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plaintext HTTP on the TLS listener answered 200")
		}
	}
	conn, err := grpc.NewClient(v.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := configv1.NewAgentServiceClient(conn).ListAgents(ctx, &configv1.ListAgentsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext gRPC on the TLS listener: %v, want UNAVAILABLE", err)
	}

	// TLS 1.1 and older are refused.
	old := v.httpClient(nil, false)
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
	if _, _, _, _, err := v.restCall(old, "/healthz"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
}

// TestTLSMutual: with TLS_CLIENT_CA_FILE, a client certificate of the CA is required on the gRPC
// listener (without: the handshake fails, UNAVAILABLE) and on the HTTP listener (without: 401
// authentication), except for the probes /healthz and /readyz; a certificate of another CA
// fails the handshake.
func TestTLSMutual(t *testing.T) {
	v := startTLS(t, true)
	other := testpki.NewCA(t, "other CA").Client("stranger")

	if _, err := v.grpcCall(v.client); err != nil {
		t.Errorf("gRPC with a client certificate: %v", err)
	}
	for _, cert := range []*testpki.Pair{nil, other} {
		if _, err := v.grpcCall(cert); status.Code(err) != codes.Unavailable {
			t.Errorf("gRPC with client certificate %v: %v, want UNAVAILABLE", cert != nil, err)
		}
	}

	const listAgents = "/v3.2/configuration/action/list_agents"
	if code, _, body, _, err := v.restCall(v.httpClient(v.client, true), listAgents); err != nil || code != http.StatusOK {
		t.Errorf("REST with a client certificate = %d %s, %v; want 200", code, body, err)
	}
	for _, h2 := range []bool{true, false} {
		for _, path := range []string{listAgents, "/metrics", "/openapi.json"} {
			code, _, body, _, err := v.restCall(v.httpClient(nil, h2), path)
			var e struct {
				Error struct{ Type, Message string }
			}
			json.Unmarshal([]byte(body), &e)
			if err != nil || code != http.StatusUnauthorized || e.Error.Type != "authentication" || !strings.Contains(e.Error.Message, "client certificate") {
				t.Errorf("%s without a client certificate (h2 %v) = %d %s, %v; want 401 authentication", path, h2, code, body, err)
			}
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, _, body, _, err := v.restCall(v.httpClient(nil, h2), path); err != nil || code != http.StatusOK {
				t.Errorf("probe %s without a client certificate (h2 %v) = %d %s, %v; want 200", path, h2, code, body, err)
			}
		}
	}
	// Go's client presents no certificate of a CA that the server does not name: force it, as a
	// client that does not care would.
	forced := v.httpClient(nil, true)
	forced.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &other.TLS, nil
	}
	if _, _, _, _, err := v.restCall(forced, "/healthz"); err == nil {
		t.Error("a client certificate of another CA passed the HTTP handshake")
	}
	if !strings.Contains(v.logs.String(), `"grpc.code":"Unauthenticated","surface":"rest","refused":"a client certificate is required`) {
		t.Errorf("a refusal for want of a client certificate is not logged as a call:\n%s", v.logs.String())
	}
}

// TestTLSRotation: a new certificate written over the same files is what the next new
// connection gets, on both listeners, without a restart; a pair caught half-written keeps the
// previous certificate, with one warning. The reload is checked at each handshake, so nothing
// waits.
func TestTLSRotation(t *testing.T) {
	v := startTLS(t, true)
	serials := func() (*big.Int, *big.Int) {
		t.Helper()
		g, err := v.grpcCall(v.client)
		if err != nil {
			t.Fatalf("gRPC: %v", err)
		}
		_, _, _, h, err := v.restCall(v.httpClient(v.client, true), "/healthz")
		if err != nil {
			t.Fatalf("HTTP: %v", err)
		}
		return g, h
	}
	if g, h := serials(); g.Cmp(v.srv.Serial) != 0 || h.Cmp(v.srv.Serial) != 0 {
		t.Fatalf("serials gRPC %v, HTTP %v; want %v", g, h, v.srv.Serial)
	}

	next := v.ca.Server()
	next.WriteTo(v.srv.CertFile, v.srv.KeyFile)
	if g, h := serials(); g.Cmp(next.Serial) != 0 || h.Cmp(next.Serial) != 0 {
		t.Fatalf("after the rotation: serials gRPC %v, HTTP %v; want the new %v", g, h, next.Serial)
	}

	broken := v.ca.Server()
	if err := os.WriteFile(v.srv.CertFile, broken.CertPEM, 0o600); err != nil { // the key not yet
		t.Fatal(err)
	}
	if g, h := serials(); g.Cmp(next.Serial) != 0 || h.Cmp(next.Serial) != 0 {
		t.Fatalf("with a half-written pair: serials gRPC %v, HTTP %v; want the previous %v", g, h, next.Serial)
	}
	if n := strings.Count(v.logs.String(), "do not load"); n != 1 {
		t.Errorf("%d warnings of a pair that does not load, want 1:\n%s", n, v.logs.String())
	}
	if err := os.WriteFile(v.srv.KeyFile, broken.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if g, h := serials(); g.Cmp(broken.Serial) != 0 || h.Cmp(broken.Serial) != 0 {
		t.Fatalf("once the key is written: serials gRPC %v, HTTP %v; want %v", g, h, broken.Serial)
	}
}

// TestTLSConfigErrors: files that do not load stop the gateway at start, naming the variable.
func TestTLSConfigErrors(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	a, b := ca.Server().WriteFiles(), ca.Server().WriteFiles()
	for _, tc := range []struct {
		mutate func(*server.Config)
		want   string
	}{
		{func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = a.CertFile, b.KeyFile }, "TLS_CERT_FILE, TLS_KEY_FILE: tls: private key does not match"},
		{func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = a.CertFile+".missing", a.KeyFile }, "TLS_CERT_FILE: open"},
		{func(c *server.Config) {
			c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = a.CertFile, a.KeyFile, a.KeyFile
		}, "TLS_CLIENT_CA_FILE: no PEM certificate"},
		{func(c *server.Config) { c.TLSCertFile = a.CertFile }, "TLS_CERT_FILE, TLS_KEY_FILE: set both"},
		{func(c *server.Config) { c.RedisURL, c.RedisCAFile = "rediss://127.0.0.1:1", a.KeyFile }, "REDIS_CA_FILE: no PEM certificate"},
	} {
		cfg := server.Defaults()
		cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
		tc.mutate(&cfg)
		g, err := server.New(cfg, discardLogger())
		if err == nil {
			g.Run(canceled())
			t.Errorf("server.New with %q to come: no error", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("server.New = %v, want an error with %q and no key", err, tc.want)
		}
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestTLSRedisGateway: a gateway with REDIS_URL=rediss://, REDIS_CA_FILE and
// REDIS_CLIENT_CERT_FILE/KEY_FILE caches in a real redis-server that serves TLS with a private
// CA and requires client certificates: a second read is a hit.
func TestTLSRedisGateway(t *testing.T) {
	ca := testpki.NewCA(t, "redis CA")
	srvPair, client := ca.Server().WriteFiles(), ca.Client("gateway").WriteFiles()
	srv := redistest.TLSServer(t, redistest.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, CAFile: ca.File, AuthClients: true})
	v := newEmulatorEnv(t, func(c *server.Config) {
		patient(srv.TLSURL())(c)
		c.RedisCAFile, c.RedisClientCertFile, c.RedisClientKeyFile = ca.File, client.CertFile, client.KeyFile
	})
	body := `{"id":"owner-a@example.com"}`
	for i, want := range []string{"miss", "hit"} {
		if got := v.rest(ownerA, "get_agent", body); got.status != http.StatusOK || got.header.Get("X-Cache") != want {
			t.Fatalf("read %d = %d %s, X-Cache %q; want 200, %s", i, got.status, got.body, got.header.Get("X-Cache"), want)
		}
	}
	if n := v.calls("get_agent"); n != 1 {
		t.Errorf("two reads through a TLS Redis made %d upstream calls, want 1", n)
	}
}
