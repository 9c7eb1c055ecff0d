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
// `gateway -dev`. Entries and counters share one least-recently-used list, bounded in number and
// bytes; evicting a counter is safe, since a counter that comes back starts from a fresh value
// that no entry holds. It is safe for concurrent use.
type Memory struct {
	maxEntries int
	maxBytes   int64
	now        func() time.Time
	fresh      func() int64

	mu    sync.Mutex
	lru   *list.List // of *item, most recently used at the front
	items map[string]*list.Element
	bytes int64 // sum of item sizes
}

// item is an entry (val) or a counter (gen).
type item struct {
	key     string
	val     []byte
	gen     int64
	counter bool
	expires time.Time
}

// counterBytes is what a counter is taken to weigh, besides its key.
const counterBytes = 8

func (it *item) size() int64 {
	if it.counter {
		return int64(len(it.key) + counterBytes)
	}
	return int64(len(it.key) + len(it.val))
}

// MemoryOption configures a Memory.
type MemoryOption func(*Memory)

// WithClock makes the store read the time from now instead of time.Now, so that tests move time
// instead of waiting for it.
func WithClock(now func() time.Time) MemoryOption { return func(m *Memory) { m.now = now } }

// NewMemory returns the in-process store, bounded by maxEntries items (entries and counters) and
// maxBytes (sum of their keys and values), evicting the least recently used first and honouring
// TTLs (lazily, on access and eviction). A value too large for maxBytes is not stored. A
// non-positive bound means no bound.
func NewMemory(maxEntries int, maxBytes int64, opts ...MemoryOption) *Memory {
	m := &Memory{
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		now:        time.Now,
		fresh:      freshGeneration,
		lru:        list.New(),
		items:      make(map[string]*list.Element),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Lookup returns the counter at genKey, creating it with a fresh value when it is missing, and
// the value at key, as Store.Lookup says. The value is a copy.
func (m *Memory) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (int64, []byte, bool, error) {
	if err := checkTTL("lookup", genKey, ttl); err != nil {
		return 0, nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, false, fmt.Errorf("cache: lookup %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	c := m.get(genKey, true, now)
	if c == nil {
		gen := m.fresh()
		m.put(&item{key: genKey, gen: gen, counter: true, expires: now.Add(ttl)})
		return gen, nil, false, nil
	}
	e := m.get(key, false, now)
	if e == nil {
		return c.gen, nil, false, nil
	}
	// A copy, as Redis would give: the caller may keep or change it without touching the cache.
	return c.gen, append([]byte{}, e.val...), true, nil
}

// Fill stores a copy of val at key for ttl while the counter at genKey holds gen, as
// Store.Fill says.
func (m *Memory) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("fill", key, ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("cache: fill %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	c := m.get(genKey, true, now)
	if c == nil || c.gen != gen {
		return false, nil
	}
	if exp := now.Add(ttl); c.expires.Before(exp) {
		c.expires = exp
	}
	return m.put(&item{key: key, val: append([]byte{}, val...), expires: now.Add(ttl)}), nil
}

// Bump moves the counter at genKey on, as Store.Bump says.
func (m *Memory) Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error) {
	if err := checkTTL("bump", genKey, ttl); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cache: bump %q: %w", genKey, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	c := m.get(genKey, true, now)
	if c == nil {
		c = &item{key: genKey, gen: m.fresh(), counter: true, expires: now.Add(ttl)}
		m.put(c)
		return c.gen, nil
	}
	c.gen++
	if exp := now.Add(ttl); c.expires.Before(exp) {
		c.expires = exp
	}
	return c.gen, nil
}

// Ping reports whether the store can serve: an in-process store always can.
func (m *Memory) Ping(context.Context) error { return nil }

// Close does nothing: the store holds no resources but memory.
func (m *Memory) Close() error { return nil }

// get returns the live item at key if it is of the kind asked for, making it the most recently
// used, or nil. An expired item is removed. m.mu is held.
func (m *Memory) get(key string, counter bool, now time.Time) *item {
	el, ok := m.items[key]
	if !ok {
		return nil
	}
	it := el.Value.(*item)
	if !now.Before(it.expires) {
		m.remove(el)
		return nil
	}
	if it.counter != counter {
		return nil
	}
	m.lru.MoveToFront(el)
	return it
}

// put stores it, replacing what was at its key, and evicts the least recently used items until
// the bounds hold. An item too large for maxBytes on its own is not stored, and the old one at
// its key is removed all the same: the caller replaced it, so it must not be served again. m.mu
// is held.
func (m *Memory) put(it *item) bool {
	if el, ok := m.items[it.key]; ok {
		m.remove(el)
	}
	if m.maxBytes > 0 && it.size() > m.maxBytes {
		return false
	}
	m.items[it.key] = m.lru.PushFront(it)
	m.bytes += it.size()
	for (m.maxEntries > 0 && m.lru.Len() > m.maxEntries) || (m.maxBytes > 0 && m.bytes > m.maxBytes) {
		m.remove(m.lru.Back())
	}
	return true
}

// remove drops an item. m.mu is held.
func (m *Memory) remove(el *list.Element) {
	it := m.lru.Remove(el).(*item)
	delete(m.items, it.key)
	m.bytes -= it.size()
}
