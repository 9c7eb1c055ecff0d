package cache_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
	"github.com/livechat-gateway/gateway/internal/testutil/testpki"
)

// TestTLSRedis stores and reads through rediss:// on a real redis-server serving TLS with a
// certificate of a private CA and requiring client certificates: it works with the CA
// (RedisOptions.RootCAs, REDIS_CA_FILE) and a client certificate, and fails without either.
// Like every Redis test it skips when redis-server is missing, except under CI.
func TestTLSRedis(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "redis CA")
	srvPair := ca.Server().WriteFiles()
	srv := redistest.TLSServer(t, redistest.TLSFiles{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, CAFile: ca.File, AuthClients: true})
	client := ca.Client("gateway")
	clientCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client.TLS, nil }
	// Generous bounds: a TLS handshake on a loaded test machine may take longer than the
	// defaults' tens of milliseconds, and this test is about TLS, not about timeouts.
	slow := cache.RedisOptions{Timeout: 5 * time.Second, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}

	o := slow
	o.RootCAs, o.GetClientCertificate = ca.Pool, clientCert
	s := newRedis(t, srv.TLSURL(), o)
	if !works(t, s) {
		t.Fatalf("a store on %s with the CA and a client certificate does not work", srv.TLSURL())
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping over TLS: %v", err)
	}

	noCA := slow
	noCA.GetClientCertificate = clientCert
	if err := newRedis(t, srv.TLSURL(), noCA).Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Ping without the private CA = %v, want a certificate error", err)
	}
	noCert := slow
	noCert.RootCAs = ca.Pool
	if err := newRedis(t, srv.TLSURL(), noCert).Ping(context.Background()); err == nil {
		t.Error("Ping without a client certificate to a Redis that requires one succeeded")
	}

	if _, err := cache.NewRedis(srv.URL(), o); err == nil || !strings.Contains(err.Error(), "needs a TLS REDIS_URL") {
		t.Errorf("NewRedis(redis://, with a CA) = %v, want an error", err)
	}
}
