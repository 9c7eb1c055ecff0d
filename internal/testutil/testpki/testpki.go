// Package testpki makes certificates for tests: a certificate authority and the server and
// client certificates it signs, written as PEM files in the test's temporary directory.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serials numbers the certificates of a test binary, so that each one's serial differs.
var serials atomic.Int64

// CA is a test certificate authority.
type CA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the CA certificate's PEM file, for TLS_CLIENT_CA_FILE or redis-server's
	// tls-ca-cert-file.
	File string
	// Pool holds the CA certificate, for a client's RootCAs or a server's ClientCAs.
	Pool *x509.CertPool
}

// NewCA makes a CA and writes its certificate to a file in t's temporary directory.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	ca := &CA{t: t, cert: cert, key: key, Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.File = filepath.Join(t.TempDir(), "ca.pem")
	write(t, ca.File, pemBlock("CERTIFICATE", der))
	return ca
}

// Pair is a certificate and its key, as PEM.
type Pair struct {
	Serial            *big.Int
	CertPEM, KeyPEM   []byte
	TLS               tls.Certificate // for a client's Certificates
	CertFile, KeyFile string          // set by WriteFiles
	ca                *CA
}

// Server returns a server certificate for 127.0.0.1, ::1 and localhost.
func (ca *CA) Server() *Pair {
	ca.t.Helper()
	return ca.issue("server", x509.ExtKeyUsageServerAuth)
}

// Client returns a client certificate named name.
func (ca *CA) Client(name string) *Pair {
	ca.t.Helper()
	return ca.issue(name, x509.ExtKeyUsageClientAuth)
}

func (ca *CA) issue(name string, usage x509.ExtKeyUsage) *Pair {
	ca.t.Helper()
	key := newKey(ca.t)
	serial := big.NewInt(serials.Add(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatalf("testpki: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatalf("testpki: %v", err)
	}
	p := &Pair{Serial: serial, CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER),
		ca: ca}
	if p.TLS, err = tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		ca.t.Fatalf("testpki: %v", err)
	}
	return p
}

// WriteFiles writes the pair to cert.pem and key.pem in a new temporary directory and returns
// the pair, whose CertFile and KeyFile name them.
func (p *Pair) WriteFiles() *Pair {
	p.ca.t.Helper()
	dir := p.ca.t.TempDir()
	p.CertFile, p.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	p.WriteTo(p.CertFile, p.KeyFile)
	return p
}

// WriteTo writes the pair over the files certFile and keyFile, in place, as a rotation that
// rewrites the files would.
func (p *Pair) WriteTo(certFile, keyFile string) {
	p.ca.t.Helper()
	write(p.ca.t, certFile, p.CertPEM)
	write(p.ca.t, keyFile, p.KeyPEM)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return key
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("testpki: %v", err)
	}
}
