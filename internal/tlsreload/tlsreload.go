// Package tlsreload serves TLS with a certificate, a key and an optional client CA read from
// files, and reloads them when the files change, so that a certificate rotation needs no
// restart.
//
// The files are checked at every handshake, not on a timer: a check is a stat of each file
// (a few microseconds, against the hundreds a handshake's cryptography takes), so a new
// connection always gets what is on disk, with no interval to tune and nothing to wait for in
// tests. A file counts as changed when its modification time, size or inode differ from the
// last read; the inode catches the atomic replacement of Kubernetes' secret volumes and of
// rename-based writers. A file read within racyWindow of its modification time could be
// rewritten within the same timestamp tick, to the same size and in place, without its stat
// changing, so its content is read and compared on the next checks until the read is safely
// later than the modification (git's "racy" rule).
//
// A change that does not load (a rotation caught half-written: a new certificate with the old
// key, a truncated file) keeps the previous certificate and logs one warning per broken state of
// the files, never their content. The next change that loads is taken.
package tlsreload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// racyWindow is how long after a file's modification a read of it is not trusted to be its final
// content. It is above the timestamp granularity of common file systems (ext4, xfs, tmpfs: a
// kernel tick; FAT: 2s).
const racyWindow = 3 * time.Second

// Options name the files of a Reloader.
type Options struct {
	// CertFile and KeyFile are the PEM certificate (chain) and its private key.
	CertFile, KeyFile string
	// CAFile is the PEM certificates that client certificates are checked against; "" for none.
	CAFile string
	// CertName, KeyName and CAName name the files in errors and logs, such as the environment
	// variables that set them. Empty, the paths name them.
	CertName, KeyName, CAName string
	// Logger takes the reloads and the warnings about files that do not load.
	Logger *slog.Logger
}

// Reloader holds the current certificate and client CA of a set of files. It is safe for
// concurrent use.
type Reloader struct {
	o   Options
	now func() time.Time // the wall clock, to compare with modification times

	mu            sync.Mutex // held while checking: one handshake at a time reads the files
	cert, key, ca watched
	cur           *state // never nil after New
}

// state is one loaded certificate and client CA pool; it is replaced, never changed.
type state struct {
	cert *tls.Certificate
	pool *x509.CertPool // nil without a CA file
}

// New loads the files of o. It fails if they do not load, naming the file by its name in o.
func New(o Options) (*Reloader, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tlsreload: a certificate file and a key file are required")
	}
	def := func(name *string, path string) {
		if *name == "" {
			*name = path
		}
	}
	def(&o.CertName, o.CertFile)
	def(&o.KeyName, o.KeyFile)
	def(&o.CAName, o.CAFile)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{o: o, now: time.Now,
		cert: watched{path: o.CertFile}, key: watched{path: o.KeyFile}, ca: watched{path: o.CAFile}}
	r.refresh(&r.cert)
	r.refresh(&r.key)
	c, err := r.loadPair()
	if err != nil {
		return nil, err
	}
	r.cur = &state{cert: c}
	if o.CAFile != "" {
		r.refresh(&r.ca)
		if r.cur.pool, err = r.loadCA(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// check reloads what changed on disk and returns the current state.
func (r *Reloader) check() *state {
	r.mu.Lock()
	defer r.mu.Unlock()
	certChanged := r.refresh(&r.cert)
	keyChanged := r.refresh(&r.key)
	if certChanged || keyChanged {
		if c, err := r.loadPair(); err != nil {
			r.o.Logger.Warn("TLS certificate files changed but do not load; keeping the previous certificate",
				"cert", r.o.CertName, "key", r.o.KeyName, "err", err.Error())
		} else {
			r.cur = &state{cert: c, pool: r.cur.pool}
			attrs := []any{"cert", r.o.CertName}
			if c.Leaf != nil { // nil only under GODEBUG=x509keypairleaf=0
				attrs = append(attrs, "serial", c.Leaf.SerialNumber.Text(16), "not_after", c.Leaf.NotAfter)
			}
			r.o.Logger.Info("TLS certificate reloaded", attrs...)
		}
	}
	if r.o.CAFile != "" && r.refresh(&r.ca) {
		if p, err := r.loadCA(); err != nil {
			r.o.Logger.Warn("TLS client CA file changed but does not load; keeping the previous CA", "ca", r.o.CAName, "err", err.Error())
		} else {
			r.cur = &state{cert: r.cur.cert, pool: p}
			r.o.Logger.Info("TLS client CA reloaded", "ca", r.o.CAName)
		}
	}
	return r.cur
}

// loadPair parses the certificate and key as last read. Its errors hold no file content:
// crypto/tls's name only what is wrong.
func (r *Reloader) loadPair() (*tls.Certificate, error) {
	if r.cert.err != nil {
		return nil, fmt.Errorf("%s: %w", r.o.CertName, r.cert.err)
	}
	if r.key.err != nil {
		return nil, fmt.Errorf("%s: %w", r.o.KeyName, r.key.err)
	}
	c, err := tls.X509KeyPair(r.cert.data, r.key.data)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", r.o.CertName, r.o.KeyName, err)
	}
	return &c, nil
}

// loadCA parses the client CA file as last read.
func (r *Reloader) loadCA() (*x509.CertPool, error) {
	if r.ca.err != nil {
		return nil, fmt.Errorf("%s: %w", r.o.CAName, r.ca.err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(r.ca.data) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", r.o.CAName, r.ca.path)
	}
	return p, nil
}

// ServerConfig returns a server's TLS configuration: TLS 1.2 at least, nextProtos offered by
// ALPN, the current certificate, and, when there is a CA file, client certificates checked
// against it as auth says (without one, auth is ignored and no certificate is asked for). Each
// handshake checks the files first.
func (r *Reloader) ServerConfig(nextProtos []string, auth tls.ClientAuthType) *tls.Config {
	var (
		mu   sync.Mutex
		last *state
		cfg  *tls.Config
	)
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: slices.Clone(nextProtos)}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		s := r.check()
		mu.Lock()
		defer mu.Unlock()
		// One configuration per state, not per handshake: it is built on a change only.
		if s != last {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: slices.Clone(nextProtos),
				Certificates: []tls.Certificate{*s.cert}}
			if s.pool != nil {
				cfg.ClientAuth, cfg.ClientCAs = auth, s.pool
			}
			last = s
		}
		return cfg, nil
	}
	return base
}

// GetClientCertificate is a tls.Config's GetClientCertificate: it presents the current
// certificate, for a client of a server that asks for one.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.check().cert, nil
}

// watched is a file as last read.
type watched struct {
	path   string
	stamp  stamp
	readAt time.Time
	data   []byte
	err    error // of the last read
}

// stamp is what a stat tells of a file's content; the zero stamp stands for a file that could
// not be stat'ed.
type stamp struct {
	modTime time.Time
	size    int64
	inode   uint64
}

func statFile(path string) stamp {
	fi, err := os.Stat(path) // follows symbolic links, as Kubernetes' secret volumes need
	if err != nil {
		return stamp{}
	}
	return stamp{modTime: fi.ModTime(), size: fi.Size(), inode: inode(fi)}
}

// refresh reads w's file if it may have changed since the last read, and reports whether what
// it read differs from that.
func (r *Reloader) refresh(w *watched) bool {
	s := statFile(w.path)
	read := !w.readAt.IsZero()
	racy := !w.stamp.modTime.IsZero() && w.readAt.Sub(w.stamp.modTime) < racyWindow
	if read && s == w.stamp && !racy {
		return false
	}
	readAt := r.now()
	data, err := os.ReadFile(w.path)
	same := read && bytes.Equal(data, w.data) && (err == nil) == (w.err == nil)
	w.stamp, w.readAt, w.data, w.err = s, readAt, data, err
	return !same
}
