package webhooks

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// MemoryStore is the Store in process, for a gateway without Redis: the same semantics as
// RedisStore (ids "<ms>-<seq>" that grow, deduplication, retention by age and count, ErrTrimmed),
// but only this replica's deliveries, and lost on restart. Run one replica with it, or give the
// replicas Redis.
//
// Each license has a ring of at most MaxLen events; all rings together hold at most maxBytes of
// events (the oldest event of any license goes first), and at most maxSeen hashes are remembered
// for deduplication (the oldest go first, as they expire first). A ring whose events have all
// gone is kept, empty, for twice the retention after its last append, so that a reader after
// one of its ids is told it missed events, as RedisStore's mark does.
type MemoryStore struct {
	o        Options
	maxBytes int64
	maxSeen  int

	mu      sync.Mutex
	last    streamID // the latest id given, of any license: ids never repeat nor go back
	bytes   int64
	streams map[string]*ring
	seen    map[string]seenEntry
	order   []string  // the keys of seen, oldest first (a window that never changes keeps them in expiry order)
	trimmed time.Time // when trimAge last ran
	notify  *notifier // wakes the readers waiting on a license at its appends
}

type ring struct {
	events     []Event  // oldest first
	maxDeleted streamID // the largest id dropped, for ErrTrimmed
	last       streamID // the latest id appended: an empty ring is forgotten twice the retention after it
}

type seenEntry struct {
	id      string
	expires time.Time
}

// Default bounds of the in-process store, beside Options' (WEBHOOK_MEMORY_MAX_BYTES).
const (
	DefaultMemoryMaxBytes = 64 << 20
	memoryMaxSeen         = 100_000
)

// NewMemoryStore returns an in-process Store holding at most maxBytes of events (0: the
// default, 64 MiB).
func NewMemoryStore(o Options, maxBytes int64) *MemoryStore {
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryMaxBytes
	}
	return &MemoryStore{o: o.withDefaults(), maxBytes: maxBytes, maxSeen: memoryMaxSeen,
		streams: map[string]*ring{}, seen: map[string]seenEntry{}, notify: newNotifier(true)}
}

// size is what an event counts against maxBytes: its variable parts and a fixed overhead.
func size(ev *Event) int64 {
	return int64(len(ev.ID)+len(ev.WebhookID)+len(ev.Action)+len(ev.LicenseID)+len(ev.Payload)+len(ev.AdditionalData)) + 128
}

// Append implements Store.
func (s *MemoryStore) Append(ctx context.Context, license string, ev Event) (string, bool, error) {
	if !ValidLicense(license) {
		return "", false, fmt.Errorf("webhooks: license %q cannot name a stream", license)
	}
	ev.AdditionalData = additional(ev.AdditionalData)
	key := license + "\x00" + dedupeHash(&ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	s.forgetSeen(now)
	if e, ok := s.seen[key]; ok {
		return e.id, true, nil
	}
	id := streamID{ms: uint64(max(now.UnixMilli(), 0))}
	if !s.last.less(id) {
		id = streamID{s.last.ms, s.last.seq + 1}
	}
	s.last = id
	ev.ID = id.String()
	r := s.streams[license]
	if r == nil {
		r = &ring{}
		s.streams[license] = r
	}
	r.events = append(r.events, ev)
	r.last = id
	s.bytes += size(&ev)
	for len(r.events) > s.o.MaxLen {
		s.dropOldest(license, r)
	}
	s.trimAge(now)
	for s.bytes > s.maxBytes && s.evictOldest() {
	}
	if len(s.order) >= s.maxSeen {
		delete(s.seen, s.order[0])
		s.order = s.order[1:]
	}
	s.seen[key] = seenEntry{id: ev.ID, expires: now.Add(s.o.DedupeWindow)}
	s.order = append(s.order, key)
	s.notify.Message(license)
	return ev.ID, false, nil
}

// forgetSeen drops the hashes whose window has passed. s.mu is held.
func (s *MemoryStore) forgetSeen(now time.Time) {
	n := 0
	for n < len(s.order) && !now.Before(s.seen[s.order[n]].expires) {
		delete(s.seen, s.order[n])
		n++
	}
	s.order = s.order[n:]
}

// dropOldest drops license's oldest event, and the ring when it is empty. s.mu is held.
func (s *MemoryStore) dropOldest(license string, r *ring) {
	ev := &r.events[0]
	s.bytes -= size(ev)
	id, _ := parseID(ev.ID)
	if r.maxDeleted.less(id) {
		r.maxDeleted = id
	}
	r.events[0] = Event{} // let the backing array forget it
	r.events = r.events[1:]
	if len(r.events) == 0 {
		r.events = nil // an empty ring is kept, for its maxDeleted, without its array
	}
}

// trimEvery is how often trimAge walks every license at most: the walk is not worth making at
// every append and read of a gateway with many licenses, for a retention of minutes or more.
const trimEvery = 100 * time.Millisecond

// trimAge drops the events older than the retention, of every license. s.mu is held.
func (s *MemoryStore) trimAge(now time.Time) {
	if d := now.Sub(s.trimmed); d >= 0 && d < trimEvery {
		return
	}
	s.trimmed = now
	floor := uint64(max(now.Add(-s.o.Retention).UnixMilli(), 0))
	forget := uint64(max(now.Add(-2*s.o.Retention).UnixMilli(), 0))
	for license, r := range s.streams {
		if len(r.events) == 0 && r.last.ms < forget {
			// As Redis's mark expires: a reader after one of its ids is no longer told.
			delete(s.streams, license)
			continue
		}
		for len(r.events) > 0 {
			id, _ := parseID(r.events[0].ID)
			if id.ms >= floor {
				break
			}
			s.dropOldest(license, r)
		}
	}
}

// evictOldest drops the oldest event of all licenses, reporting whether there was one. s.mu is
// held.
func (s *MemoryStore) evictOldest() bool {
	var (
		oldest  streamID
		license string
	)
	for l, r := range s.streams {
		if len(r.events) == 0 {
			continue
		}
		id, _ := parseID(r.events[0].ID)
		if license == "" || id.less(oldest) {
			oldest, license = id, l
		}
	}
	if license == "" {
		return false
	}
	s.dropOldest(license, s.streams[license])
	return true
}

// Read implements Store.
func (s *MemoryStore) Read(ctx context.Context, license, after string, limit int, wait time.Duration) ([]Event, error) {
	if !ValidLicense(license) {
		return nil, fmt.Errorf("webhooks: license %q cannot name a stream", license)
	}
	from, err := parseID(after)
	if err != nil {
		return nil, err
	}
	limit = clampMax(limit)
	return readWaiting(ctx, s.notify, license, wait, func() ([]Event, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.trimAge(s.o.Now())
		return s.after(license, after, from, limit)
	})
}

// after returns up to limit events of license following from. s.mu is held.
func (s *MemoryStore) after(license, after string, from streamID, limit int) ([]Event, error) {
	r := s.streams[license]
	if r == nil {
		return nil, nil
	}
	if after != "" && from.less(r.maxDeleted) {
		return nil, ErrTrimmed
	}
	i := sort.Search(len(r.events), func(i int) bool {
		id, _ := parseID(r.events[i].ID)
		return from.less(id)
	})
	n := min(len(r.events)-i, limit)
	if n <= 0 {
		return nil, nil
	}
	return append([]Event(nil), r.events[i:i+n]...), nil
}

// Last implements Store.
func (s *MemoryStore) Last(ctx context.Context, license string) (string, error) {
	if !ValidLicense(license) {
		return "", fmt.Errorf("webhooks: license %q cannot name a stream", license)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimAge(s.o.Now())
	if r := s.streams[license]; r != nil && r.last != (streamID{}) {
		return r.last.String(), nil
	}
	return "", nil
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }

var _, _ Store = (*MemoryStore)(nil), (*RedisStore)(nil)
