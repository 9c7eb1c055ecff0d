package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil/testpki"
)

// shellWords splits one command line as a POSIX shell would, for the quoting -dev's help uses:
// words split at blanks, and single-quoted text taken as it is.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			word.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case r == '"' || r == '\\' || r == '$' || r == '`' || r == '*' || r == '?':
			t.Fatalf("the help's command has an unquoted %q, which the shell would interpret: %s", r, line)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("an unterminated quote in the help's command: %s", line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// printedCommand returns the words of the first command in help that starts with program and
// contains marker, its continuation lines (ending with " \") joined.
func printedCommand(t *testing.T, help, program, marker string) []string {
	t.Helper()
	joined := strings.ReplaceAll(help, " \\\n", " ")
	for line := range strings.Lines(joined) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, program+" ") && strings.Contains(line, marker) {
			return shellWords(t, line)
		}
	}
	t.Fatalf("gateway -dev printed no %s command with %q:\n%s", program, marker, help)
	return nil
}

// command is a curl or grpcurl command line, read by the flags -dev's help uses.
type command struct {
	headers    http.Header
	data       string            // -d
	files      map[string]string // the TLS flags' files: cacert, cert and key
	positional []string          // what is not a flag
	flags      []string          // the flags without a value (-s, -N, -plaintext, ...)
}

// parseCommand reads words (without the program) of a curl or grpcurl command. Its TLS flags'
// files are looked up in files, the names -dev prints standing for the test's own.
func parseCommand(t *testing.T, words []string, files map[string]string) command {
	t.Helper()
	c := command{headers: http.Header{}, files: map[string]string{}}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch name := strings.TrimLeft(w, "-"); name {
		case "H", "d", "cacert", "cert", "key":
			if i+1 == len(words) {
				t.Fatalf("%s without its value in %q", w, words)
			}
			i++
			switch name {
			case "d":
				c.data = words[i]
			case "H":
				k, v, ok := strings.Cut(words[i], ":")
				if !ok {
					t.Fatalf("a header without a colon: %q", words[i])
				}
				c.headers.Add(k, strings.TrimSpace(v))
			default:
				f, ok := files[words[i]]
				if !ok {
					t.Fatalf("%s names %s, which the test has no file for", w, words[i])
				}
				c.files[name] = f
			}
		default:
			if strings.HasPrefix(w, "-") {
				c.flags = append(c.flags, w)
			} else {
				c.positional = append(c.positional, w)
			}
		}
	}
	return c
}

// tlsConfig is the client TLS of c's -cacert/-cert/-key files, read as grpcurl and curl read
// them, or nil when c gives none.
func (c command) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	if len(c.files) == 0 {
		return nil
	}
	cfg := &tls.Config{}
	if f := c.files["cacert"]; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(pem)
	}
	if c.files["cert"] != "" {
		pair, err := tls.LoadX509KeyPair(c.files["cert"], c.files["key"])
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// TestDevWebhookStream is issue 15's acceptance 7: `gateway -dev` prints a working grpcurl
// command that shows an event fired at the emulator. It runs the real -dev process, makes
// exactly the gRPC call its printed grpcurl command describes (address, headers, TLS files, the
// -d JSON decoded into the request type, method), and the printed server-sent events curl too,
// fires the printed emulator command, and checks that the event arrives on both streams, with the
// payload as fired and nothing else: no secret. Plaintext, and with mTLS, where the emulator's
// deliveries still reach the receiver (in process) and the printed commands name the CA and
// client files for the reader to fill in (here, the test's own).
func TestDevWebhookStream(t *testing.T) {
	t.Run("plaintext", func(t *testing.T) { watchDevStream(t, nil) })
	t.Run("mTLS", func(t *testing.T) {
		ca := testpki.NewCA(t, "test CA")
		srv := ca.Server().WriteFiles()
		client := ca.Client("test client").WriteFiles()
		watchDevStream(t, map[string]string{"CA.pem": ca.File, "client.pem": client.CertFile, "client-key.pem": client.KeyFile},
			"TLS_CERT_FILE="+srv.CertFile, "TLS_KEY_FILE="+srv.KeyFile, "TLS_CLIENT_CA_FILE="+ca.File)
	})
}

// watchDevStream runs TestDevWebhookStream against `gateway -dev` with env; files maps the TLS
// file names the help prints to the test's own.
func watchDevStream(t *testing.T, files map[string]string, env ...string) {
	_, restURL, help := startDev(t, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The grpcurl command: grpcurl -plaintext (or TLS files) -H 'authorization: ...' -d '{...}'
	// ADDR METHOD.
	gc := parseCommand(t, printedCommand(t, help, "grpcurl", "SubscribeWebhooks")[1:], files)
	creds := insecure.NewCredentials()
	if cfg := gc.tlsConfig(t); cfg != nil {
		creds = credentials.NewTLS(cfg)
		if len(gc.flags) != 0 {
			t.Fatalf("the grpcurl command has flags %q besides its TLS files", gc.flags)
		}
	} else if len(gc.flags) != 1 || gc.flags[0] != "-plaintext" {
		t.Fatalf("the grpcurl command is neither -plaintext nor TLS: %+v", gc)
	}
	if len(gc.positional) != 2 {
		t.Fatalf("the grpcurl command has no address and method: %+v", gc)
	}
	addr, method := gc.positional[0], gc.positional[1]
	req := &configv1.SubscribeWebhooksRequest{}
	if err := protojson.Unmarshal([]byte(gc.data), req); err != nil {
		t.Fatalf("grpcurl's -d %s: %v", gc.data, err)
	}
	md := metadata.MD{}
	for k, vs := range gc.headers {
		md.Set(strings.ToLower(k), vs...)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := conn.NewStream(metadata.NewOutgoingContext(ctx, md), &grpc.StreamDesc{ServerStreams: true}, "/"+method)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(req); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	recv := func() *configv1.SubscribeWebhooksResponse {
		t.Helper()
		m := &configv1.SubscribeWebhooksResponse{}
		if err := stream.RecvMsg(m); err != nil {
			t.Fatalf("the printed grpcurl call: %v", err)
		}
		return m
	}
	if m := recv(); m.GetHeartbeat() == nil {
		t.Fatalf("the stream's first message = %v, want a heartbeat", m)
	}

	// The server-sent events curl: curl -sN 'URL' -H 'Authorization: ...'.
	sc := parseCommand(t, printedCommand(t, help, "curl", "/webhooks/stream")[1:], files)
	if len(sc.positional) != 1 || !strings.HasPrefix(sc.positional[0], restURL+"/") {
		t.Fatalf("the server-sent events command has no URL of the gateway's (%s): %+v", restURL, sc)
	}
	sreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, sc.positional[0], nil)
	sreq.Header = sc.headers
	sseClient := &http.Client{Transport: &http.Transport{TLSClientConfig: sc.tlsConfig(t)}}
	defer sseClient.CloseIdleConnections()
	sresp, err := sseClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	if sresp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(sresp.Body)
		t.Fatalf("the printed server-sent events command: %s %s", sresp.Status, b)
	}
	frames := bufio.NewReader(sresp.Body)
	// frame returns the next SSE frame's event name and data.
	frame := func() (string, string) {
		t.Helper()
		var name, data string
		for {
			line, err := frames.ReadString('\n')
			if err != nil {
				t.Fatalf("the server-sent events stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				return name, data
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}
	if name, data := frame(); name != "heartbeat" {
		t.Fatalf("the server-sent events stream's first frame = %s %s, want a heartbeat", name, data)
	}

	// The event: curl -s URL -H 'Content-Type: ...' -d '{...}', a POST as curl makes with -d.
	ec := parseCommand(t, printedCommand(t, help, "curl", "/emulator/events")[1:], nil)
	if len(ec.positional) != 1 || ec.data == "" {
		t.Fatalf("the emulator command has no URL or no body: %+v", ec)
	}
	ereq, _ := http.NewRequestWithContext(ctx, http.MethodPost, ec.positional[0], strings.NewReader(ec.data))
	ereq.Header = ec.headers
	eresp, err := http.DefaultClient.Do(ereq)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(eresp.Body)
	eresp.Body.Close()
	var fired struct {
		Deliveries []struct {
			WebhookID string `json:"webhook_id"`
			Status    int    `json:"status"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(answer, &fired); err != nil || eresp.StatusCode != http.StatusOK ||
		len(fired.Deliveries) != 1 || fired.Deliveries[0].Status != http.StatusOK {
		t.Fatalf("the printed emulator command: %s %s, want one delivery answered 200 by the receiver", eresp.Status, answer)
	}
	var sent struct {
		License string          `json:"license"`
		Action  string          `json:"action"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(ec.data), &sent); err != nil {
		t.Fatal(err)
	}

	check := func(surface string, ev *configv1.WebhookEvent, raw []byte) {
		t.Helper()
		if ev.GetAction() != sent.Action || ev.GetLicenseId() != sent.License || ev.GetWebhookId() != fired.Deliveries[0].WebhookID || ev.GetId() == "" {
			t.Errorf("%s: event %v, want %s of license %s by webhook %s", surface, ev, sent.Action, sent.License, fired.Deliveries[0].WebhookID)
		}
		got, _ := ev.GetPayload().MarshalJSON()
		if !jsonEqual(t, got, sent.Payload) {
			t.Errorf("%s: payload %s, want %s as fired", surface, got, sent.Payload)
		}
		// No secret: the event holds the fields it should and no other, and its payload is
		// the one fired. (The secret is random; internal/server's tests check a known one.)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("%s: %v", surface, err)
		}
		for k := range fields {
			if !slices.Contains([]string{"id", "received_at", "webhook_id", "action", "license_id", "payload", "additional_data"}, k) {
				t.Errorf("%s: the event has a field %q: %s", surface, k, raw)
			}
		}
		if bytes.Contains(bytes.ToLower(raw), []byte("secret")) {
			t.Errorf("%s: a secret reached a subscriber: %s", surface, raw)
		}
	}
	m := recv()
	if m.GetEvent() == nil {
		t.Fatalf("after the event, the gRPC stream sent %v, want the event", m)
	}
	raw, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m.GetEvent())
	check("gRPC", m.GetEvent(), raw)
	for {
		name, data := frame()
		if name == "heartbeat" {
			continue
		}
		if name != "webhook" {
			t.Fatalf("the server-sent events stream sent %s %s, want the event", name, data)
		}
		ev := &configv1.WebhookEvent{}
		if err := protojson.Unmarshal([]byte(data), ev); err != nil {
			t.Fatalf("an SSE frame's data: %v: %s", err, data)
		}
		check("server-sent events", ev, []byte(data))
		break
	}
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// TestDevWithoutWebhooks: when -dev cannot register its webhooks (here every upstream call
// fails), it still starts, serves and prints its help, without the webhook commands.
func TestDevWithoutWebhooks(t *testing.T) {
	_, _, help := startDev(t, "EMULATOR_ERROR_RATE=1")
	if strings.Contains(help, "SubscribeWebhooks") || !strings.Contains(help, "GetAgent") {
		t.Errorf("gateway -dev, its webhooks unregistered, printed:\n%s", help)
	}
}
