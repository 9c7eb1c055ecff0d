package tlsreload

import (
	"crypto/tls"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/testpki"
)

// handshake runs a TLS handshake between cfg and a client trusting ca that presents client (nil
// for none), over an in-memory connection, and returns the server certificate's serial and the
// client's error.
func handshake(t *testing.T, cfg *tls.Config, ca *testpki.CA, client *testpki.Pair) (*big.Int, error) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	srv := tls.Server(s, cfg)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err == nil {
			// TLS 1.3 clients finish before the server has checked their certificate: a read
			// makes the server's verdict reach them.
			srv.Write([]byte("x"))
		}
		s.Close()
		done <- err
	}()
	ccfg := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}
	if client != nil {
		ccfg.Certificates = []tls.Certificate{client.TLS}
	}
	cli := tls.Client(c, ccfg)
	err := cli.Handshake()
	if err == nil {
		_, err = cli.Read(make([]byte, 1))
	}
	c.Close()
	testutil.Recv(t, "the server's handshake", done)
	if err != nil {
		return nil, err
	}
	return cli.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func newReloader(t *testing.T, o Options) (*Reloader, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, logs
}

// TestTLSReloadRotation: a new pair written over the files, in place and at once (so within the
// file system's timestamp granularity, the racy case), is served from the next handshake; a
// pair caught half-written keeps the previous certificate with one warning that holds no key.
func TestTLSReloadRotation(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	a := ca.Server().WriteFiles()
	r, logs := newReloader(t, Options{CertFile: a.CertFile, KeyFile: a.KeyFile, CertName: "TLS_CERT_FILE", KeyName: "TLS_KEY_FILE"})
	cfg := r.ServerConfig([]string{"h2"}, tls.RequireAndVerifyClientCert)
	serial := func() *big.Int {
		t.Helper()
		s, err := handshake(t, cfg, ca, nil)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return s
	}
	if got := serial(); got.Cmp(a.Serial) != 0 {
		t.Fatalf("serial %v, want %v", got, a.Serial)
	}

	b := ca.Server()
	b.WriteTo(a.CertFile, a.KeyFile)
	if got := serial(); got.Cmp(b.Serial) != 0 {
		t.Fatalf("after a rotation: serial %v, want the new %v", got, b.Serial)
	}

	// Half-written: the new certificate, the old key.
	c := ca.Server()
	if err := os.WriteFile(a.CertFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := serial(); got.Cmp(b.Serial) != 0 {
			t.Fatalf("with a mismatched pair: serial %v, want the previous %v", got, b.Serial)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("%d warnings for one broken state, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "TLS_CERT_FILE") {
		t.Errorf("the warning does not name the file by its variable:\n%s", logs.String())
	}
	if err := os.WriteFile(a.KeyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got.Cmp(c.Serial) != 0 {
		t.Fatalf("once the key is written too: serial %v, want %v", got, c.Serial)
	}
	for _, p := range []*testpki.Pair{a, b, c} {
		if strings.Contains(logs.String(), string(p.KeyPEM[40:80])) {
			t.Errorf("a key is in the logs:\n%s", logs.String())
		}
	}
}

// TestTLSReloadStat: once a read is safely later than the file's modification, stat alone tells a
// change: here the atomic replacement by a rename (a new inode), as Kubernetes' secret volumes
// and most tools do it. The clock is moved so that no read is racy.
func TestTLSReloadStat(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	a := ca.Server().WriteFiles()
	r, _ := newReloader(t, Options{CertFile: a.CertFile, KeyFile: a.KeyFile})
	r.now = func() time.Time { return time.Now().Add(time.Hour) }
	r.check() // reads once more, now with a read time well past the modification
	if r.refresh(&r.cert) {
		t.Fatal("an unchanged file reported changed")
	}
	b := ca.Server()
	dir := t.TempDir()
	b.WriteTo(filepath.Join(dir, "c"), filepath.Join(dir, "k"))
	for _, mv := range [][2]string{{"c", a.CertFile}, {"k", a.KeyFile}} {
		if err := os.Rename(filepath.Join(dir, mv[0]), mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.check().cert.Leaf.SerialNumber; got.Cmp(b.Serial) != 0 {
		t.Fatalf("after a rename: serial %v, want %v", got, b.Serial)
	}
}

// TestTLSReloadClientCA: with a CA file, client certificates are checked as the ServerConfig's
// auth says, and a new CA written to the file is used from the next handshake.
func TestTLSReloadClientCA(t *testing.T) {
	ca, other := testpki.NewCA(t, "test CA"), testpki.NewCA(t, "other CA")
	srv := ca.Server().WriteFiles()
	caFile := filepath.Join(t.TempDir(), "clients.pem")
	copyFile(t, ca.File, caFile)
	r, _ := newReloader(t, Options{CertFile: srv.CertFile, KeyFile: srv.KeyFile, CAFile: caFile})
	cfg := r.ServerConfig(nil, tls.RequireAndVerifyClientCert)
	if _, err := handshake(t, cfg, ca, ca.Client("alice")); err != nil {
		t.Errorf("a client certificate of the CA: %v", err)
	}
	if _, err := handshake(t, cfg, ca, nil); err == nil {
		t.Error("no client certificate was accepted")
	}
	if _, err := handshake(t, cfg, ca, other.Client("mallory")); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	copyFile(t, other.File, caFile)
	if _, err := handshake(t, cfg, ca, other.Client("bob")); err != nil {
		t.Errorf("after the CA file changed, a client certificate of the new CA: %v", err)
	}
	if _, err := handshake(t, cfg, ca, ca.Client("alice")); err == nil {
		t.Error("after the CA file changed, a client certificate of the old CA was accepted")
	}
}

// TestTLSReloadNew: files that do not load are an error naming them, never quoting them.
func TestTLSReloadNew(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	a, b := ca.Server().WriteFiles(), ca.Server().WriteFiles()
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{CertFile: a.CertFile, KeyFile: b.KeyFile, CertName: "C", KeyName: "K"}, "C, K: tls: private key does not match"},
		{Options{CertFile: a.CertFile + ".missing", KeyFile: a.KeyFile, CertName: "C"}, "C: open"},
		{Options{CertFile: a.CertFile, KeyFile: a.KeyFile, CAFile: empty, CAName: "CA"}, "CA: no PEM certificate"},
		{Options{CertFile: a.CertFile}, "required"},
	} {
		_, err := New(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.o, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY-----") {
			t.Errorf("the error quotes a key: %v", err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
