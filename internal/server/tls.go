package server

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/tlsreload"
)

// errNoClientCert is the refusal of an HTTP request without a verified client certificate: the
// REST surface's authentication error (401, type "authentication"), as for a missing token.
var errNoClientCert = status.Error(codes.Unauthenticated, "a client certificate is required: present one issued by the gateway's client CA")

// clientCerts serves, when client certificates are on (TLS_CLIENT_CA_FILE), only the requests
// that came with a verified one, and the probes without: GET (and HEAD) /healthz and /readyz,
// which kubelet and a container's health check ask without a certificate and which tell
// nothing but up or not. The rest, /metrics included, is refused. The handshake has already
// rejected any certificate that does not verify, so a certificate here is a verified one.
func clientCerts(h http.Handler, calls *calls) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verified := r.TLS != nil && len(r.TLS.VerifiedChains) > 0
		probe := (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
		if verified || probe {
			h.ServeHTTP(w, r)
			return
		}
		rest.WriteError(r.Context(), w, errNoClientCert)
		var method string // unknown to calls.refused
		if a, ok := restByPath[r.URL.Path]; ok {
			method = a.FullMethod()
		}
		calls.refused(r.Context(), method, errNoClientCert, 0)
	})
}

// redisTLS returns the Redis options of REDIS_CA_FILE and REDIS_CLIENT_CERT_FILE/KEY_FILE. The
// CA is read once, at start (a CA changes far less often than the certificates it signs);
// the client certificate is reloaded like the listeners' when its files change.
func redisTLS(cfg Config, log *slog.Logger) (cache.RedisOptions, error) {
	var o cache.RedisOptions
	if cfg.RedisCAFile != "" {
		b, err := os.ReadFile(cfg.RedisCAFile)
		if err != nil {
			return o, fmt.Errorf("REDIS_CA_FILE: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(b) {
			return o, fmt.Errorf("REDIS_CA_FILE: no PEM certificate in %s", cfg.RedisCAFile)
		}
	}
	if cfg.RedisClientCertFile != "" {
		r, err := tlsreload.New(tlsreload.Options{CertFile: cfg.RedisClientCertFile, KeyFile: cfg.RedisClientKeyFile,
			CertName: "REDIS_CLIENT_CERT_FILE", KeyName: "REDIS_CLIENT_KEY_FILE", Logger: log})
		if err != nil {
			return o, err
		}
		o.GetClientCertificate = r.GetClientCertificate
	}
	return o, nil
}
