// Package metrics counts what the gateway does and serves the counts in the Prometheus text
// format. It is a few counters, not a metrics library: the gateway needs labelled counters and one
// endpoint, and nothing here is worth a dependency.
//
// Label values must never hold a secret: they are action names, codes and outcomes.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds counters and writes them out. The zero value is not usable; use New.
type Registry struct {
	mu       sync.Mutex
	counters map[string]*Counter
}

// New returns an empty registry.
func New() *Registry { return &Registry{counters: map[string]*Counter{}} }

// Counter is a family of counters of one name, one per set of label values.
type Counter struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	values     map[string]*atomic.Int64 // by joined label values
}

// Counter returns the counter family name, registering it on first use. labels are the label
// names; every Add must give values for all of them, in order.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.counters[name]; ok {
		return c
	}
	c := &Counter{name: name, help: help, labels: labels, values: map[string]*atomic.Int64{}}
	r.counters[name] = c
	return c
}

// Add adds n to the counter with the label values.
func (c *Counter) Add(n int64, values ...string) {
	if len(values) != len(c.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", c.name, len(c.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	c.mu.Lock()
	v, ok := c.values[key]
	if !ok {
		v = new(atomic.Int64)
		c.values[key] = v
	}
	c.mu.Unlock()
	v.Add(n)
}

// Inc adds 1.
func (c *Counter) Inc(values ...string) { c.Add(1, values...) }

// Value returns the count with the label values.
func (c *Counter) Value(values ...string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.values[strings.Join(values, "\xff")]; ok {
		return v.Load()
	}
	return 0
}

// WriteTo writes every counter in the Prometheus text format, sorted by name and labels.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.counters))
	for n := range r.counters {
		names = append(names, n)
	}
	r.mu.Unlock()
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		r.mu.Lock()
		c := r.counters[n]
		r.mu.Unlock()
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
		c.mu.Lock()
		keys := make([]string, 0, len(c.values))
		for k := range c.values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s%s %d\n", c.name, labelPairs(c.labels, strings.Split(k, "\xff")), c.values[k].Load())
		}
		c.mu.Unlock()
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Handler serves the registry at /metrics.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		r.WriteTo(w)
	})
}

func labelPairs(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	parts := make([]string, len(names))
	for i, n := range names {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(values[i])
		parts[i] = fmt.Sprintf("%s=%q", n, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
