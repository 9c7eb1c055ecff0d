package webhooks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
)

// RedisStore is the Store on Redis (single, Cluster or Sentinel), shared by every replica: one
// Stream per license, so a delivery received by any replica is read by subscribers on all.
//
// Keys, all of one license under one hash tag so that a Cluster keeps them on one node and the
// scripts may touch them together; none holds anything secret:
//
//	lcgw:webhooks:{<license>}:stream          the events (XADD), expiring Retention after the last
//	lcgw:webhooks:{<license>}:mark            the largest id trimmed and the last id appended,
//	                                          expiring twice Retention after the last, for ErrTrimmed
//	lcgw:webhooks:{<license>}:seen:<sha256>   an event's hash, for DedupeWindow, holding its id
//
// Each append is announced on AppendedChannel, which wakes the readers waiting on the license on
// every replica.
type RedisStore struct {
	c       redis.UniversalClient
	o       Options
	timeout time.Duration
	notify  *notifier
	stop    context.CancelFunc
	stopped sync.WaitGroup
}

// Liveness of the announcements' subscription: pinged when quiet for subscriptionPing, replaced
// when silent for three more. Until then, a reader misses at most its own wait.
const subscriptionPing = 5 * time.Second

// NewRedisStore returns a Store on c, and subscribes to AppendedChannel for the readers that
// wait. timeout bounds one Append, or one read of a Read. The caller keeps c and closes it after
// the Store.
func NewRedisStore(c redis.UniversalClient, o Options, timeout time.Duration) *RedisStore {
	ctx, cancel := context.WithCancel(context.Background())
	s := &RedisStore{c: c, o: o.withDefaults(), timeout: timeout, notify: newNotifier(false), stop: cancel}
	s.stopped.Go(func() {
		cache.Listen(ctx, c, AppendedChannel, subscriptionPing, subscriptionPing, time.Now, s.notify)
	})
	return s
}

func streamKey(license string) string { return "lcgw:webhooks:{" + license + "}:stream" }

func markKey(license string) string { return "lcgw:webhooks:{" + license + "}:mark" }

func seenKey(license, hash string) string { return "lcgw:webhooks:{" + license + "}:seen:" + hash }

// appendScript appends an event unless its hash was seen, atomically, so that a delivery is never
// both refused as a duplicate and not stored (as a SET NX followed by a failed XADD would leave
// it), and announces the append on AppendedChannel. KEYS: the stream, the hash's key, the mark.
// ARGV: dedupe window ms, MAXLEN, the oldest time to keep (ms), the stream's life ms, the mark's
// life ms, the channel, the license, then the event's field/value pairs. It returns {id, 0} for
// an event stored, {id of the first, 1} for a duplicate.
//
// Trimming is exact (=), not approximate (~), and done here rather than by XADD, because the
// largest id it drops must be known: it goes in the mark, which tells a reader after an older
// id that it has missed events (Redis's own max-deleted-entry-id counts XDEL only). The age bound
// is never applied past the new entry: a clock ahead of Redis's must not drop the event just
// stored. Both trims usually drop one entry or none.
//
// The age check looks at the oldest entry first, and asks for the newest entry below the floor
// only when there is one: an XREVRANGE whose end is below every entry finds no node to start
// from, so Redis walks the whole stream backwards from its last entry, which made every append
// cost the stream's length (a burst of 10,000 events took minutes, and held up every other
// client of the Redis meanwhile).
var appendScript = redis.NewScript(`
local seen = redis.call('GET', KEYS[2])
if seen then return {seen, 1} end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
local ms = tonumber(string.match(id, '^(%d+)-'))
local floor = tonumber(ARGV[3])
if floor > ms then floor = ms end
floor = string.format('%d', floor)
local removed = nil
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if tonumber(string.match(first[1][1], '^(%d+)-')) < tonumber(floor) then
  local old = redis.call('XREVRANGE', KEYS[1], '(' .. floor .. '-0', '-', 'COUNT', 1)
  removed = old[1][1]
  redis.call('XTRIM', KEYS[1], 'MINID', '=', floor)
end
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)
  removed = gone[#gone][1]
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', ARGV[2])
end
if removed then redis.call('HSET', KEYS[3], 'trimmed', removed) end
redis.call('HSET', KEYS[3], 'last', id)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {id, 0}`)

// readScript reads up to ARGV[2] entries after ARGV[1] (” for all), or reports with {1} that
// entries after it were dropped: trimmed (it is below the mark's trimmed), or expired with the
// whole stream (it is below the mark's last). Both in one script, so that no trim can fall
// between the check and the read. KEYS: the stream, the mark.
var readScript = redis.NewScript(`
local function less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams < bms or (ams == bms and aseq < bseq)
end
local start = '-'
if ARGV[1] ~= '' then
  local mark = redis.call('HMGET', KEYS[2], 'trimmed', 'last')
  if redis.call('EXISTS', KEYS[1]) == 0 then
    if mark[2] and less(ARGV[1], mark[2]) then return {1, {}} end
    return {0, {}}
  end
  if mark[1] and less(ARGV[1], mark[1]) then return {1, {}} end
  start = '(' .. ARGV[1]
end
return {0, redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[2])}`)

// Append implements Store.
func (s *RedisStore) Append(ctx context.Context, license string, ev Event) (string, bool, error) {
	if !ValidLicense(license) {
		return "", false, fmt.Errorf("webhooks: license %q cannot name a stream", license)
	}
	ev.AdditionalData = additional(ev.AdditionalData)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	floor := s.o.Now().Add(-s.o.Retention).UnixMilli()
	args := []any{s.o.DedupeWindow.Milliseconds(), s.o.MaxLen, floor, s.o.Retention.Milliseconds(), 2 * s.o.Retention.Milliseconds(), AppendedChannel, license}
	args = append(args, "webhook_id", ev.WebhookID, "action", ev.Action, "license_id", ev.LicenseID,
		"payload", string(ev.Payload), "additional_data", string(ev.AdditionalData),
		"received_at", ev.ReceivedAt.UTC().Format(time.RFC3339Nano))
	res, err := appendScript.Run(ctx, s.c, []string{streamKey(license), seenKey(license, dedupeHash(&ev)), markKey(license)}, args...).Slice()
	if err != nil {
		return "", false, fmt.Errorf("webhooks: append: %w", err)
	}
	if len(res) != 2 {
		return "", false, fmt.Errorf("webhooks: append: %d values, want 2", len(res))
	}
	id, _ := res[0].(string)
	dup, _ := res[1].(int64)
	return id, dup == 1, nil
}

// Read implements Store: a script reads what is there (and makes the trim check); when nothing
// is and wait allows, it waits for an announcement of an append to license, from any replica,
// and reads again. Waiting holds no Redis connection: one subscription per store serves every
// reader, so that a thousand subscribers cost no more connections than one. While that
// subscription is down, readers poll every pollInterval instead.
func (s *RedisStore) Read(ctx context.Context, license, after string, limit int, wait time.Duration) ([]Event, error) {
	if !ValidLicense(license) {
		return nil, fmt.Errorf("webhooks: license %q cannot name a stream", license)
	}
	if _, err := parseID(after); err != nil {
		return nil, err
	}
	limit = clampMax(limit)
	return readWaiting(ctx, s.notify, license, wait, func() ([]Event, error) { return s.read(ctx, license, after, limit) })
}

// read is one read of the script.
func (s *RedisStore) read(ctx context.Context, license, after string, limit int) ([]Event, error) {
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := readScript.Run(sctx, s.c, []string{streamKey(license), markKey(license)}, after, limit).Slice()
	if err != nil {
		return nil, fmt.Errorf("webhooks: read: %w", err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("webhooks: read: %d values, want 2", len(res))
	}
	if trimmed, _ := res[0].(int64); trimmed == 1 {
		return nil, ErrTrimmed
	}
	entries, _ := res[1].([]any)
	return scriptEntries(entries)
}

// MaxRead bounds one Read's count, whatever the caller asks, so that one call's answer stays a
// bounded size.
const MaxRead = 1000

func clampMax(n int) int {
	if n <= 0 || n > MaxRead {
		return MaxRead
	}
	return n
}

// scriptEntries turns XRANGE's reply, through a script (id, then a flat field/value list), into
// events.
func scriptEntries(entries []any) ([]Event, error) {
	out := make([]Event, 0, len(entries))
	for _, e := range entries {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, errors.New("webhooks: read: an entry that is not [id, fields]")
		}
		id, _ := pair[0].(string)
		flat, _ := pair[1].([]any)
		vals := make(map[string]any, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			k, _ := flat[i].(string)
			vals[k] = flat[i+1]
		}
		out = append(out, eventOf(id, vals))
	}
	return out, nil
}

// eventOf reads an event from its stream entry.
func eventOf(id string, vals map[string]any) Event {
	str := func(k string) string { s, _ := vals[k].(string); return s }
	at, _ := time.Parse(time.RFC3339Nano, str("received_at"))
	return Event{
		ID: id, WebhookID: str("webhook_id"), Action: str("action"), LicenseID: str("license_id"),
		Payload: []byte(str("payload")), AdditionalData: []byte(str("additional_data")), ReceivedAt: at,
	}
}

// additional is the stored form of additional_data: "{}" for none.
func additional(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// Last implements Store, from the mark, which the append script keeps.
func (s *RedisStore) Last(ctx context.Context, license string) (string, error) {
	if !ValidLicense(license) {
		return "", fmt.Errorf("webhooks: license %q cannot name a stream", license)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	id, err := s.c.HGet(ctx, markKey(license), "last").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("webhooks: last: %w", err)
	}
	return id, nil
}

// Close implements Store: it stops the subscription. The client is the caller's.
func (s *RedisStore) Close() error {
	s.stop()
	s.stopped.Wait()
	return nil
}
