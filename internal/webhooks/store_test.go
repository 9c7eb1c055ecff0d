package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// clock is a movable clock for retention.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// stores runs f with the in-process store and with one on a real redis-server, each made by
// the function f is given, with o.
func stores(t *testing.T, f func(t *testing.T, open func(o Options) Store)) {
	t.Run("memory", func(t *testing.T) {
		f(t, func(o Options) Store { return NewMemoryStore(o, 0) })
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Server(t)
		f(t, func(o Options) Store {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { c.Close() })
			return NewRedisStore(c, o, 5*time.Second)
		})
	})
}

func event(n int) Event {
	return Event{
		WebhookID: "wh1", Action: "incoming_chat", LicenseID: "A",
		Payload:    json.RawMessage(fmt.Sprintf(`{"chat":{"id":"c%d","thread":{"events":[{"text":"héllo \"%d\""}]}}}`, n, n)),
		ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC),
	}
}

// TestStoreAppendRead: ids grow, Read returns events after an id in order with their fields
// intact, bounded by max, and a duplicate is stored once and answers the first's id.
func TestStoreAppendRead(t *testing.T) {
	stores(t, func(t *testing.T, open func(Options) Store) {
		s := open(Options{})
		ctx := context.Background()
		if last, err := s.Last(ctx, "A"); err != nil || last != "" {
			t.Errorf("Last of an empty stream = %q, %v; want \"\"", last, err)
		}
		var ids []string
		for i := range 5 {
			id, dup, err := s.Append(ctx, "A", event(i))
			if err != nil || dup {
				t.Fatalf("Append %d = %q, %v, %v", i, id, dup, err)
			}
			if len(ids) > 0 {
				prev, _ := parseID(ids[len(ids)-1])
				cur, err := parseID(id)
				if err != nil || !prev.less(cur) {
					t.Fatalf("id %q after %q: not growing (%v)", id, ids[len(ids)-1], err)
				}
			}
			ids = append(ids, id)
		}
		if last, err := s.Last(ctx, "A"); err != nil || last != ids[4] {
			t.Errorf("Last = %q, %v; want %q", last, err, ids[4])
		}
		id, dup, err := s.Append(ctx, "A", event(2))
		if err != nil || !dup || id != ids[2] {
			t.Errorf("the same event again = %q, dup %v, %v; want %q, dup", id, dup, err, ids[2])
		}
		got, err := s.Read(ctx, "A", "", 3, 0)
		if err != nil || len(got) != 3 {
			t.Fatalf("Read(\"\", 3) = %d events, %v", len(got), err)
		}
		for i, ev := range got {
			want := event(i)
			if ev.ID != ids[i] || ev.WebhookID != want.WebhookID || ev.Action != want.Action || ev.LicenseID != "A" ||
				string(ev.Payload) != string(want.Payload) || string(ev.AdditionalData) != "{}" || !ev.ReceivedAt.Equal(want.ReceivedAt) {
				t.Errorf("event %d = %+v, want %+v with id %s", i, ev, want, ids[i])
			}
		}
		got, err = s.Read(ctx, "A", ids[2], 100, 0)
		if err != nil || len(got) != 2 || got[0].ID != ids[3] || got[1].ID != ids[4] {
			t.Errorf("Read after the third = %+v, %v; want the last two", got, err)
		}
		if got, err := s.Read(ctx, "B", "", 10, 0); err != nil || len(got) != 0 {
			t.Errorf("another license's stream = %+v, %v; want none", got, err)
		}
		if _, err := s.Read(ctx, "A", "nope", 10, 0); !errors.Is(err, ErrBadID) {
			t.Errorf("Read after nope: %v, want ErrBadID", err)
		}
		if _, _, err := s.Append(ctx, "{A}", event(0)); err == nil {
			t.Error("Append to license {A}: no error; a brace must not reach a key")
		}
	})
}

// TestStoreReadWaits: a Read with a wait returns an event appended while it waits, and nothing
// when none comes within the wait.
func TestStoreReadWaits(t *testing.T) {
	stores(t, func(t *testing.T, open func(Options) Store) {
		s := open(Options{})
		ctx := context.Background()
		first, _, err := s.Append(ctx, "A", event(0))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Read(ctx, "A", first, 10, 50*time.Millisecond); err != nil || len(got) != 0 {
			t.Errorf("Read with nothing new = %+v, %v; want none after the wait", got, err)
		}
		type result struct {
			evs []Event
			err error
		}
		done := make(chan result, 1)
		go func() {
			evs, err := s.Read(ctx, "A", first, 10, 10*time.Second)
			done <- result{evs, err}
		}()
		// Whether the Read is already waiting or not, it must return this event: after its
		// id, it is there either way.
		id, _, err := s.Append(ctx, "A", event(1))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || len(r.evs) != 1 || r.evs[0].ID != id {
				t.Errorf("the waiting Read = %+v, %v; want the event %s", r.evs, r.err, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting Read did not return the appended event")
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			evs, err := s.Read(cctx, "A", id, 10, time.Minute)
			done <- result{evs, err}
		}()
		cancel()
		select {
		case r := <-done:
			if r.err != nil || len(r.evs) != 0 {
				t.Errorf("a cancelled Read = %+v, %v; want none, no error", r.evs, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a cancelled Read did not return")
		}
	})
}

// readAll reads license's whole stream.
func readAll(t *testing.T, s Store, license string) []Event {
	t.Helper()
	var out []Event
	after := ""
	for {
		evs, err := s.Read(context.Background(), license, after, MaxRead, 0)
		if err != nil {
			t.Fatalf("Read after %q: %v", after, err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].ID
	}
}

// TestStoreMaxLen: a stream holds MaxLen events, the newest, in order; a Read after a dropped id
// is ErrTrimmed, and after the last dropped one is not (nothing was missed).
func TestStoreMaxLen(t *testing.T) {
	stores(t, func(t *testing.T, open func(Options) Store) {
		const maxLen = 100
		s := open(Options{MaxLen: maxLen})
		ctx := context.Background()
		var ids []string
		for i := range 1000 {
			id, _, err := s.Append(ctx, "A", event(i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		got := readAll(t, s, "A")
		if len(got) != maxLen {
			t.Fatalf("%d events kept of 1000, want %d", len(got), maxLen)
		}
		for i, ev := range got {
			if want := ids[len(ids)-len(got)+i]; ev.ID != want {
				t.Fatalf("kept event %d is %s, want %s: the newest, in order", i, ev.ID, want)
			}
		}
		if _, err := s.Read(ctx, "A", ids[0], 10, 0); !errors.Is(err, ErrTrimmed) {
			t.Errorf("Read after the first, dropped, id: %v, want ErrTrimmed", err)
		}
		if _, err := s.Read(ctx, "A", ids[len(ids)-2], 10, 0); err != nil {
			t.Errorf("Read after a kept id: %v", err)
		}
		if got, err := s.Read(ctx, "A", ids[len(ids)-maxLen-1], 10, 0); err != nil || len(got) == 0 || got[0].ID != ids[len(ids)-maxLen] {
			t.Errorf("Read after the last dropped id = %d events, %v; want the oldest kept first, no error", len(got), err)
		}
	})
}

// TestStoreRetention: once the retention has passed, the next append drops the older events.
func TestStoreRetention(t *testing.T) {
	stores(t, func(t *testing.T, open func(Options) Store) {
		c := &clock{}
		s := open(Options{Retention: time.Hour, Now: c.now})
		ctx := context.Background()
		var first string
		for i := range 250 {
			id, _, err := s.Append(ctx, "A", event(i))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = id
			}
		}
		c.advance(2 * time.Hour)
		last, _, err := s.Append(ctx, "A", event(1000))
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s, "A")
		// The clock moved, Redis's did not: its age bound stops at the new entry's millisecond,
		// so entries of that same millisecond stay (the in-process store keeps only the last).
		lastID, _ := parseID(last)
		if len(got) == 0 || len(got) >= 250 || got[len(got)-1].ID != last {
			t.Fatalf("%d events kept after the retention; want fewer than 250, ending with %s", len(got), last)
		}
		for _, ev := range got {
			if id, _ := parseID(ev.ID); id.ms != lastID.ms {
				t.Errorf("event %s kept after the retention, older than the last append's %s", ev.ID, last)
			}
		}
		if _, err := s.Read(ctx, "A", first, 10, 0); !errors.Is(err, ErrTrimmed) {
			t.Errorf("Read after an expired id: %v, want ErrTrimmed", err)
		}
	})
}

// TestRedisAppendWalksNoStream: an append that has nothing to drop by age makes no XREVRANGE,
// which, given an end below every entry, walks the whole stream from its newest entry: every
// append cost the stream's length, and a burst of 10,000 events of 3 KB took minutes (found by
// internal/faults' TestWebhooksBurstSlowSubscriber, issue 15 acceptance 6). Redis's own count of
// the commands its scripts ran says so, without timing anything; once entries are past the
// retention, the one XREVRANGE that finds the newest of them is made, and they are dropped.
func TestRedisAppendWalksNoStream(t *testing.T) {
	srv := redistest.Server(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	clk := &clock{}
	s := NewRedisStore(c, Options{Retention: time.Hour, Now: clk.now}, 5*time.Second)
	ctx := context.Background()
	xrevranges := func() int {
		t.Helper()
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if rest, ok := strings.CutPrefix(line, "cmdstat_xrevrange:calls="); ok {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				return n
			}
		}
		return 0
	}
	for i := range 300 {
		if _, _, err := s.Append(ctx, "A", event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := xrevranges(); n != 0 {
		t.Errorf("%d XREVRANGE calls for 300 appends with nothing past the retention, want 0", n)
	}
	clk.advance(2 * time.Hour)
	if _, _, err := s.Append(ctx, "A", event(1000)); err != nil {
		t.Fatal(err)
	}
	if n := xrevranges(); n != 1 {
		t.Errorf("%d XREVRANGE calls for an append with 300 entries past the retention, want 1", n)
	}
	if n, err := c.XLen(ctx, streamKey("A")).Result(); err != nil || n >= 300 {
		t.Errorf("%d entries kept, %v; want those past the retention dropped", n, err)
	}
}

// TestMemoryStoreBytes: the in-process store holds at most its bytes, dropping the oldest event
// of any license first.
func TestMemoryStoreBytes(t *testing.T) {
	s := NewMemoryStore(Options{}, 10_000)
	ctx := context.Background()
	for i := range 200 {
		lic := "A"
		if i%2 == 1 {
			lic = "B"
		}
		if _, _, err := s.Append(ctx, lic, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s.bytes > 10_000 {
		t.Errorf("%d bytes held, over the bound of 10000", s.bytes)
	}
	a, b := readAll(t, s, "A"), readAll(t, s, "B")
	if len(a) == 0 || len(b) == 0 || len(a)+len(b) >= 200 {
		t.Errorf("kept %d of A and %d of B; want some of each, not all", len(a), len(b))
	}
}

// TestRedisStoreDown: with Redis gone, Append and Read fail (the receiver answers 503), and
// nothing is reported stored.
func TestRedisStoreDown(t *testing.T) {
	srv := redistest.Server(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	s := NewRedisStore(c, Options{}, time.Second)
	srv.Kill()
	if id, _, err := s.Append(context.Background(), "A", event(0)); err == nil {
		t.Errorf("Append with Redis down = %q, no error", id)
	}
	if _, err := s.Read(context.Background(), "A", "", 10, 0); err == nil {
		t.Error("Read with Redis down: no error")
	}
}

// TestRedisKeysHoldNoSecret: the stream keys are the license's and the dedupe hash's, under one
// hash tag per license.
func TestRedisKeys(t *testing.T) {
	if got := streamKey("12345"); got != "lcgw:webhooks:{12345}:stream" {
		t.Errorf("streamKey = %q", got)
	}
	if got := seenKey("12345", "ab"); got != "lcgw:webhooks:{12345}:seen:ab" {
		t.Errorf("seenKey = %q", got)
	}
}

// TestRedisStoreCluster: on a 3-node Redis Cluster, through the gateway's own client of a
// redis-cluster:// URL, a license's keys share a slot, so its scripts run: append, dedupe, read,
// and ErrTrimmed past the length bound.
func TestRedisStoreCluster(t *testing.T) {
	cl := redistest.Cluster(t)
	c, err := cache.NewRedisClient(cl.URL(), cache.RedisOptions{DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, PoolTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewRedisStore(c, Options{MaxLen: 100}, 5*time.Second)
	ctx := context.Background()
	var ids []string
	for _, license := range []string{"A", "12345", "other"} {
		for i := range 150 {
			id, dup, err := s.Append(ctx, license, event(i))
			if err != nil || dup {
				t.Fatalf("Append to %s: %q, %v, %v", license, id, dup, err)
			}
			if license == "A" {
				ids = append(ids, id)
			}
		}
		if _, dup, err := s.Append(ctx, license, event(149)); err != nil || !dup {
			t.Errorf("the last event of %s again: dup %v, %v", license, dup, err)
		}
		if got := readAll(t, s, license); len(got) != 100 {
			t.Errorf("license %s keeps %d events, want 100", license, len(got))
		}
	}
	if _, err := s.Read(ctx, "A", ids[0], 10, 0); !errors.Is(err, ErrTrimmed) {
		t.Errorf("Read after a trimmed id: %v, want ErrTrimmed", err)
	}
	if got, err := s.Read(ctx, "A", ids[148], 10, time.Second); err != nil || len(got) != 1 || got[0].ID != ids[149] {
		t.Errorf("Read after the last but one = %+v, %v", got, err)
	}
}

// TestStoreConcurrentAppends: the same delivery arriving at once (at two replicas, say) is
// stored once, and many different ones at once are all stored, with ids in strictly growing
// order.
func TestStoreConcurrentAppends(t *testing.T) {
	stores(t, func(t *testing.T, open func(Options) Store) {
		s := open(Options{})
		ctx := context.Background()
		const n = 20
		var wg sync.WaitGroup
		dups := make(chan bool, n)
		for range n {
			wg.Go(func() {
				_, dup, err := s.Append(ctx, "A", event(-1))
				if err != nil {
					t.Error(err)
				}
				dups <- dup
			})
		}
		for i := range n {
			wg.Go(func() {
				if _, _, err := s.Append(ctx, "A", event(i)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		close(dups)
		stored := 0
		for dup := range dups {
			if !dup {
				stored++
			}
		}
		if stored != 1 {
			t.Errorf("the same event appended %d times at once was stored %d times, want 1", n, stored)
		}
		got := readAll(t, s, "A")
		if len(got) != n+1 {
			t.Fatalf("%d events stored, want %d", len(got), n+1)
		}
		for i := 1; i < len(got); i++ {
			a, _ := parseID(got[i-1].ID)
			b, _ := parseID(got[i].ID)
			if !a.less(b) {
				t.Errorf("id %s follows %s", got[i].ID, got[i-1].ID)
			}
		}
	})
}

// TestRedisReadWokenAcrossReplicas: a Read waiting on one replica's store is woken by an append
// through another replica's (another client), by the announcement on AppendedChannel, not at the
// end of its wait; and waiting holds no connection of the client's pool.
func TestRedisReadWokenAcrossReplicas(t *testing.T) {
	srv := redistest.Server(t)
	open := func() *RedisStore {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 2})
		t.Cleanup(func() { c.Close() })
		s := NewRedisStore(c, Options{}, 5*time.Second)
		t.Cleanup(func() { s.Close() })
		return s
	}
	one, two := open(), open()
	// Until its subscription is confirmed a reader polls, which would also find the event.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; <-tick.C {
		_, healthy, release := one.notify.wait("A")
		release()
		if healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the announcements' subscription was not confirmed")
		}
	}
	ctx := context.Background()
	// More readers than the pool has connections: none holds one while it waits.
	const readers = 8
	done := make(chan []Event, readers)
	for range readers {
		go func() {
			evs, err := one.Read(ctx, "A", "", 10, time.Minute)
			if err != nil {
				t.Error(err)
			}
			done <- evs
		}()
	}
	id, _, err := two.Append(ctx, "A", event(1))
	if err != nil {
		t.Fatal(err)
	}
	for range readers {
		select {
		case evs := <-done:
			if len(evs) != 1 || evs[0].ID != id {
				t.Errorf("a woken Read = %+v, want the event %s", evs, id)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a waiting Read was not woken by another replica's append")
		}
	}
	if n := len(one.notify.waiting); n != 0 {
		t.Errorf("%d licenses still have waiters after every Read returned", n)
	}
}
