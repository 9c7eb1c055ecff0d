package service

import (
	"strings"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// TestOwnWriteAfterTTL is the sequence that once served a caller its own pre-write answer: the
// counter of a credential expired after its last write while entries filled later lived on, and
// started again at a value those entries held. Every read after the caller's write must see it,
// on the in-process store with a moved clock and on a real Redis whose counter expires, is
// deleted, or is lost in a restart.
func TestOwnWriteAfterTTL(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		r := newRig(t, rigOptions{cache: func(c *Cache) { c.TTL = 3 * time.Second; c.StaleIfError = 0 }})
		ownWriteSequence(t, r, func() {})
	})
	redisRig := func(t *testing.T) (*rig, *redistest.Instance) {
		srv := redistest.Server(t)
		store := newTestRedis(t, srv.URL())
		return newRig(t, rigOptions{store: store, cache: func(c *Cache) { c.TTL = 3 * time.Second; c.StaleIfError = 0 }}), srv
	}
	t.Run("redis, counter expired", func(t *testing.T) {
		r, srv := redisRig(t)
		ownWriteSequence(t, r, func() { expireCounters(t, srv) })
	})
	t.Run("redis, counter deleted", func(t *testing.T) {
		r, srv := redisRig(t)
		ownWriteSequence(t, r, func() { deleteCounters(t, srv) })
	})
	t.Run("redis restarted without persistence", func(t *testing.T) {
		r, srv := redisRig(t)
		ownWriteSequence(t, r, func() { srv.Restart() })
	})
}

// ownWriteSequence creates a group, reads the list, loses the counter (lose), creates another
// group, and reads again: the second group must be in the answer, whether or not it is a hit.
func ownWriteSequence(t *testing.T, r *rig, lose func()) {
	t.Helper()
	r.must(ownerA, "create_group", `{"name":"first","agent_priorities":{"owner-a@example.com":"normal"}}`)
	r.clock.Advance(4 * time.Second)
	if got := r.must(ownerA, "list_groups", `{}`); !strings.Contains(got.resp.(interface{ String() string }).String(), "first") {
		t.Fatalf("list_groups after the first create = %v", got.resp)
	}
	r.settle()
	if got := r.must(ownerA, "list_groups", `{}`); got.cache() != "hit" {
		t.Fatalf("a second list_groups: x-cache %q, want hit (the entry the write must retire)", got.cache())
	}
	lose()
	r.clock.Advance(2500 * time.Millisecond)
	r.must(ownerA, "create_group", `{"name":"second","agent_priorities":{"owner-a@example.com":"normal"}}`)
	for i := range 3 {
		got := r.must(ownerA, "list_groups", `{}`)
		if !strings.Contains(got.resp.(interface{ String() string }).String(), "second") {
			t.Fatalf("list_groups #%d after the caller's second create (x-cache %s) = %v; want the new group", i, got.cache(), got.resp)
		}
	}
}
