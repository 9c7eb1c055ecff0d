package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// nearCounts are a gateway's near cache figures on /metrics.
func nearCounts(t *testing.T, v *env) (hits, bypassed int64, trusted bool) {
	t.Helper()
	page := v.metrics()
	return srMetric(t, page, "gateway_cache_near_lookups_total", "result", "hit"),
		srMetric(t, page, "gateway_cache_near_lookups_total", "result", "bypass"),
		srMetric(t, page, "gateway_cache_near_trusted") == 1
}

// TestNearCacheReplicas: two gateways with near caches on one real Redis. The writing replica
// reads its own write at once; the other replica sees it once the bump's announcement has
// arrived (waited for here, and timed); while a replica's invalidation channel is down, its near
// cache is not served, so a write through the other replica is seen at once, through Redis; once
// the channel is back, the near cache serves again.
func TestNearCacheReplicas(t *testing.T) {
	r := redistest.Server(t)
	admin := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer admin.Close()
	ctx := context.Background()
	// Replica one logs in as a user of its own, whose right to the channel the test takes away:
	// Redis then closes its subscription and refuses a new one, while its reads still work.
	if err := admin.Do(ctx, "ACL", "SETUSER", "near", "on", ">pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	_, up := startEmulator(t)
	replica := func(url string) func(*server.Config) {
		return func(c *server.Config) {
			patient(url)(c)
			c.CacheKeySecret = "a secret both replicas hold"
		}
	}
	one := startGateway(t, up.URL, replica("redis://near:pw@"+r.Addr()+"/0"))
	two := startGateway(t, up.URL, replica(r.URL()))
	for _, v := range []*env{one, two} {
		testutil.Eventually(t, "the near cache's subscription", func() bool { _, _, ok := nearCounts(t, v); return ok })
	}

	read := `{"id":"agent-a@example.com","fields":["job_title"]}`
	title := func(v *env) string {
		t.Helper()
		got := v.rest(ownerA, "get_agent", read)
		if got.status != 200 {
			t.Fatalf("get_agent: %d %s", got.status, got.body)
		}
		_, after, _ := strings.Cut(got.body, `"job_title":"`)
		title, _, _ := strings.Cut(after, `"`)
		return title
	}
	write := func(v *env, title string) {
		t.Helper()
		if w := v.rest(ownerA, "update_agent", `{"id":"agent-a@example.com","job_title":"`+title+`"}`); w.status != 200 {
			t.Fatalf("update_agent: %d %s", w.status, w.body)
		}
	}
	// warm reads until replica one answers from its near cache.
	warm := func(want string) {
		t.Helper()
		hits, _, _ := nearCounts(t, one)
		testutil.Eventually(t, "a near hit on replica one", func() bool {
			if got := title(one); got != want {
				t.Fatalf("replica one reads %q, want %q", got, want)
			}
			h, _, _ := nearCounts(t, one)
			return h > hits
		})
	}

	write(one, "First")
	warm("First")

	// Read-your-writes on the writing replica, with no wait.
	write(one, "Own")
	if got := title(one); got != "Own" {
		t.Errorf("replica one right after its own write reads %q, want Own", got)
	}
	warm("Own")

	// Another replica's write: seen once its announcement has arrived.
	start := time.Now()
	write(two, "Other")
	testutil.Eventually(t, "replica one reads replica two's write", func() bool {
		got := title(one)
		if got != "Own" && got != "Other" {
			t.Fatalf("replica one reads %q, want Own or Other", got)
		}
		return got == "Other"
	})
	t.Logf("replica two's write was read on replica one %v after it was sent", time.Since(start))
	warm("Other")

	// The channel down: the near cache is bypassed, and a write elsewhere is seen at once.
	if err := admin.Do(ctx, "ACL", "SETUSER", "near", "resetchannels").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "replica one stops trusting its near cache", func() bool { _, _, ok := nearCounts(t, one); return !ok })
	hits, bypassed, _ := nearCounts(t, one)
	write(two, "Down")
	for range 3 {
		if got := title(one); got != "Down" {
			t.Errorf("replica one with its channel down reads %q right after replica two's write, want Down", got)
		}
	}
	if h, b, _ := nearCounts(t, one); h != hits || b < bypassed+3 {
		t.Errorf("replica one with its channel down: near hits %d → %d, bypassed %d → %d; want no hit and 3 bypassed", hits, h, bypassed, b)
	}

	// The channel back: the near cache serves again.
	if err := admin.Do(ctx, "ACL", "SETUSER", "near", "allchannels").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "replica one trusts its near cache again", func() bool { _, _, ok := nearCounts(t, one); return ok })
	warm("Down")

	// Redis frozen: no pong comes, and within CACHE_NEAR_LIVENESS replica one stops serving its
	// near cache; its reads go to the upstream, right. Once Redis is back, it serves again.
	r.Pause()
	frozen := time.Now()
	testutil.Eventually(t, "replica one stops trusting its near cache with Redis frozen", func() bool { _, _, ok := nearCounts(t, one); return !ok })
	t.Logf("replica one stopped trusting its near cache %v after Redis froze (CACHE_NEAR_LIVENESS is 1s)", time.Since(frozen))
	_, bypassed, _ = nearCounts(t, one)
	if got := title(one); got != "Down" {
		t.Errorf("replica one with Redis frozen reads %q, want Down", got)
	}
	if _, b, _ := nearCounts(t, one); b != bypassed+1 {
		t.Errorf("replica one's read with Redis frozen: bypassed %d → %d, want one more", bypassed, b)
	}
	r.Resume()
	testutil.Eventually(t, "replica one trusts its near cache once Redis is back", func() bool { _, _, ok := nearCounts(t, one); return ok })
	warm("Down")
}
