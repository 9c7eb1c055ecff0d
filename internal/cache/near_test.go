package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// nrWait bounds the waits for an announcement or a (re)subscription to arrive: milliseconds on
// a quiet machine, far more on a loaded one.
const nrWait = 10 * time.Second

// newNear returns a near cache on the Redis at url.
func newNear(t *testing.T, url string) *cache.Near {
	t.Helper()
	r, err := cache.NewRedis(url, cache.RedisOptions{Timeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := cache.NewNear(r, cache.NearOptions{})
	t.Cleanup(func() { n.Close() })
	testutil.WaitFor(nrWait, func() bool { return n.Stats().Trusted })
	if !n.Stats().Trusted {
		t.Fatal("the near cache's subscription was not confirmed")
	}
	return n
}

// nrWarm fills key under genKey through n and checks that the next lookup is answered from the
// copies; it returns the generation.
func nrWarm(t *testing.T, n *cache.Near, genKey, key, val string) int64 {
	t.Helper()
	gen, _, _ := mustLookup(t, n, genKey, key, long)
	if stored, err := n.Fill(context.Background(), genKey, gen, key, []byte(val), long); err != nil || !stored {
		t.Fatalf("Fill = %v, %v", stored, err)
	}
	hits := n.Stats().Hits
	if g, v, ok := mustLookup(t, n, genKey, key, long); !ok || g != gen || string(v) != val {
		t.Fatalf("Lookup after Fill = %d %q %v, want %d %q", g, v, ok, gen, val)
	}
	if n.Stats().Hits != hits+1 {
		t.Fatalf("the lookup after a fill was not answered from the near copies: %+v", n.Stats())
	}
	return gen
}

// TestNearInvalidation: two replicas' near caches on one Redis. A replica reads its own bump at
// once; the other drops its copy when the announcement arrives, and never serves the old
// generation after that.
func TestNearInvalidation(t *testing.T) {
	srv := redistest.Server(t)
	a, b := newNear(t, srv.URL()), newNear(t, srv.URL())
	genKey, key := key(t, "gen"), key(t, "e:k")

	gen := nrWarm(t, a, genKey, key, "v1")
	if g, _, _ := mustLookup(t, b, genKey, key, long); g != gen {
		t.Fatalf("b sees generation %d, a %d", g, gen)
	}
	nrWarm(t, b, genKey, key+"b", "vb")

	// a's own bump: its next lookup has the new generation, with no wait.
	next, err := a.Bump(context.Background(), genKey, long)
	if err != nil || next == gen {
		t.Fatalf("Bump = %d, %v", next, err)
	}
	// (An entry still comes with its key, as from Redis: it holds the generation it was filled
	// under, which the caller compares with the counter's.)
	if g, _, _ := mustLookup(t, a, genKey, key, long); g != next {
		t.Fatalf("a's lookup right after its own bump = %d, want %d", g, next)
	}
	// b learns of it from the announcement.
	testutil.WaitFor(nrWait, func() bool { g, _, _ := mustLookup(t, b, genKey, key+"b", long); return g == next })
	if g, _, _ := mustLookup(t, b, genKey, key+"b", long); g != next {
		t.Fatalf("b still serves generation %d after a's bump to %d", g, next)
	}
}

// TestNearChannelDown: while a replica's subscription is gone and cannot be made again, its
// copies are not served, so another replica's bump is seen at once through Redis; once the
// subscription is back, the copies are served again, starting from empty.
func TestNearChannelDown(t *testing.T) {
	srv := redistest.Server(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	// The replica under test logs in as its own user, whose right to the channel the test takes
	// away: Redis then closes its subscription and refuses a new one, while its reads still work.
	if err := admin.Do(ctx, "ACL", "SETUSER", "near", "on", ">pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	a := newNear(t, "redis://near:pw@"+srv.Addr()+"/0")
	b := newNear(t, srv.URL())
	genKey, key := key(t, "gen"), key(t, "e:k")
	nrWarm(t, a, genKey, key, "v1")

	if err := admin.Do(ctx, "ACL", "SETUSER", "near", "resetchannels").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(nrWait, func() bool { return !a.Stats().Trusted })
	if a.Stats().Trusted {
		t.Fatal("a still trusts its copies with its subscription closed")
	}
	next, err := b.Bump(ctx, genKey, long)
	if err != nil {
		t.Fatal(err)
	}
	before := a.Stats()
	for range 3 {
		if g, _, _ := mustLookup(t, a, genKey, key, long); g != next {
			t.Fatalf("a with its channel down serves generation %d, want %d from Redis", g, next)
		}
	}
	if s := a.Stats(); s.Hits != before.Hits || s.Bypassed != before.Bypassed+3 {
		t.Errorf("a with its channel down: %+v after %+v, want 3 more bypassed and no hit", s, before)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "near", "allchannels").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(nrWait, func() bool { return a.Stats().Trusted })
	if !a.Stats().Trusted {
		t.Fatal("a did not subscribe again once it could")
	}
	nrWarm(t, a, genKey, key, "v2")
}
