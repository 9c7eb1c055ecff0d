// Package healthcheck is the container health check of the gateway's and the emulator's binaries
// (their -healthcheck flag): the distroless image has no shell or curl, so the binary asks its own
// running process for a cheap endpoint and exits 0 or 1.
package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Timeout bounds the whole of a check, well inside a container health check's own timeout.
const Timeout = 2 * time.Second

// Get asks the server listening on addr for path with client, within Timeout, and prints one
// line: on out when it answered 200, else in the error. An unspecified host (":8080", or 0.0.0.0
// as in a container) stands for 127.0.0.1. setting names where addr came from, for the error of
// an address that is not host:port.
func Get(ctx context.Context, client *http.Client, scheme, addr, path, setting string, out io.Writer) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: %s=%q: want host:port", setting, addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + path
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: unhealthy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: unhealthy: GET %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(out, "healthcheck: healthy: GET %s answered %s\n", url, resp.Status)
	return nil
}
