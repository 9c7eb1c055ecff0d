package cache

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// Defaults for NewMemory, for a gateway that configures nothing: enough for the hot reads of a
// few hundred credentials while staying small next to the process's own memory.
const (
	DefaultMaxEntries = 10_000
	DefaultMaxBytes   = 64 << 20
)

// Memory is the in-process Store: the default when no Redis is configured, and the store of
// `gateway -dev`. Entries are bounded in number and bytes and evicted least-recently-used first;
// counters are kept apart and never evicted. It is safe for concurrent use.
type Memory struct {
	maxEntries int
	maxBytes   int64

	mu      sync.Mutex
	lru     *list.List // of *entry, most recently used at the front
	entries map[string]*list.Element
	bytes   int64 // sum of len(key)+len(val) over entries

	counters map[string]counter
	sweepAt  int // sweep expired counters when there are this many
}

type entry struct {
	key     string
	val     []byte
	expires time.Time
}

type counter struct {
	n       int64
	expires time.Time
}

// minSweep is the fewest counters worth sweeping for expired ones.
const minSweep = 1024

// NewMemory returns the in-process store: bounded by maxEntries and maxBytes (sum of
// len(key)+len(val)), evicting least-recently-used entries, honouring TTLs (lazily on access
// plus eviction), safe for concurrent use. A value too large for maxBytes is not stored. A
// non-positive bound means no bound.
//
// Counters (Generation/Bump) are kept apart from entries and never evicted by the LRU: they are
// tiny, and evicting one would reset a generation to 0 and bring back entries it had retired.
// They expire by their ttl.
func NewMemory(maxEntries int, maxBytes int64) *Memory {
	return &Memory{
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		lru:        list.New(),
		entries:    make(map[string]*list.Element),
		counters:   make(map[string]counter),
		sweepAt:    minSweep,
	}
}

// Get returns a copy of the value at key, or ok=false on a miss. A hit makes the entry the most
// recently used.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("cache: get %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.entries[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*entry)
	if !time.Now().Before(e.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	// A copy, as Redis would give: the caller may keep or change it without touching the cache.
	return append([]byte{}, e.val...), true, nil
}

// Set stores a copy of val at key for ttl, evicting least-recently-used entries to stay within
// the bounds. A value too large for maxBytes on its own is not stored, and the old value at key
// is removed all the same: the caller replaced it, so it must not be served again.
func (m *Memory) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkTTL("set", key, ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: set %q: %w", key, err)
	}
	e := &entry{key: key, val: append([]byte{}, val...), expires: time.Now().Add(ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries[key]; ok {
		m.remove(el)
	}
	if m.maxBytes > 0 && e.size() > m.maxBytes {
		return nil
	}
	m.entries[key] = m.lru.PushFront(e)
	m.bytes += e.size()
	for (m.maxEntries > 0 && m.lru.Len() > m.maxEntries) || (m.maxBytes > 0 && m.bytes > m.maxBytes) {
		m.remove(m.lru.Back())
	}
	return nil
}

// Generation returns the counter at key, 0 when it does not exist or has expired.
func (m *Memory) Generation(ctx context.Context, key string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cache: generation %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[key]
	if !ok {
		return 0, nil
	}
	if !time.Now().Before(c.expires) {
		delete(m.counters, key)
		return 0, nil
	}
	return c.n, nil
}

// Bump increments the counter at key and returns the new value; the counter then lives for ttl.
func (m *Memory) Bump(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL("bump", key, ttl); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cache: bump %q: %w", key, err)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counters[key]
	if !now.Before(c.expires) {
		c.n = 0 // missing or expired: start again, as INCR does on a key Redis expired
	}
	c.n++
	c.expires = now.Add(ttl)
	m.counters[key] = c
	m.sweep(now)
	return c.n, nil
}

// Ping reports whether the store can serve: an in-process store always can.
func (m *Memory) Ping(context.Context) error { return nil }

// Close does nothing: the store holds no resources but memory.
func (m *Memory) Close() error { return nil }

// sweep drops expired counters once their number has doubled since the last sweep. Counters are
// read lazily, so without it one bumped per credential and never read again would stay forever;
// doubling keeps the cost amortised O(1) per Bump. m.mu is held.
func (m *Memory) sweep(now time.Time) {
	if len(m.counters) < m.sweepAt {
		return
	}
	for k, c := range m.counters {
		if !now.Before(c.expires) {
			delete(m.counters, k)
		}
	}
	m.sweepAt = max(2*len(m.counters), minSweep)
}

// remove drops an entry. m.mu is held.
func (m *Memory) remove(el *list.Element) {
	e := m.lru.Remove(el).(*entry)
	delete(m.entries, e.key)
	m.bytes -= e.size()
}

func (e *entry) size() int64 { return int64(len(e.key) + len(e.val)) }
