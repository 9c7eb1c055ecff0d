package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestCounters(t *testing.T) {
	r := New()
	c := r.Counter("gateway_cache_total", "Cache outcomes.", "action", "outcome")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Inc("get_agent", "hit") })
	}
	wg.Wait()
	c.Add(2, "get_agent", "miss")
	if got := c.Value("get_agent", "hit"); got != 10 {
		t.Errorf("Value(hit) = %d, want 10", got)
	}
	if r.Counter("gateway_cache_total", "", "action", "outcome") != c {
		t.Error("registering a name twice gave a new counter")
	}
	var b strings.Builder
	r.WriteTo(&b)
	want := `# HELP gateway_cache_total Cache outcomes.
# TYPE gateway_cache_total counter
gateway_cache_total{action="get_agent",outcome="hit"} 10
gateway_cache_total{action="get_agent",outcome="miss"} 2
`
	if b.String() != want {
		t.Errorf("WriteTo =\n%s\nwant\n%s", b.String(), want)
	}
}
