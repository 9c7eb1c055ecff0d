package redistest

import (
	"net"
	"strconv"
	"testing"
)

// TLSFiles are the PEM files of a TLS server: its certificate and key, and the CA that client
// certificates are checked against.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
	// AuthClients requires clients to present a certificate of CAFile (tls-auth-clients yes).
	AuthClients bool
}

// TLSInstance is a redis-server that serves TLS on a port of its own, next to the plaintext one
// that the helpers here use to see it ready.
type TLSInstance struct {
	*Instance
	tlsPort int
}

// TLSServer starts a redis-server as Server does, serving TLS with f on a second free port,
// and stops it when the test ends. It needs a redis-server built with TLS (Debian's is): one
// without fails to start, and the test fails saying so in the server's log.
func TLSServer(t testing.TB, f TLSFiles) *TLSInstance {
	t.Helper()
	bin := lookPath(t, "redis-server")
	in := &TLSInstance{Instance: &Instance{t: t, bin: bin, dir: t.TempDir()}}
	t.Cleanup(in.Stop)
	auth := "no"
	if f.AuthClients {
		auth = "yes"
	}
	in.startOnFreePort(func() (err error) {
		if in.tlsPort, err = freePort(); err != nil {
			return err
		}
		in.extra = []string{
			"--tls-port", strconv.Itoa(in.tlsPort),
			"--tls-cert-file", f.CertFile,
			"--tls-key-file", f.KeyFile,
			"--tls-ca-cert-file", f.CAFile,
			"--tls-auth-clients", auth,
		}
		return nil
	})
	return in
}

// TLSAddr returns the TLS port's host:port.
func (in *TLSInstance) TLSAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in.tlsPort))
}

// TLSURL returns a rediss:// REDIS_URL for the TLS port, database 0.
func (in *TLSInstance) TLSURL() string { return "rediss://" + in.TLSAddr() + "/0" }
