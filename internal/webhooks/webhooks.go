// Package webhooks receives LiveChat's webhook deliveries and keeps them for subscribers: the
// receiver (POST /webhooks), the registry of the webhooks' secrets that verifies a delivery, and
// the Store that appends verified events to one stream per license, in Redis or in process.
//
// A delivery is the spec's general webhook format, {"webhook_id", "secret_key", "action",
// "license_id", "payload", "additional_data"}. Its secret_key is checked against a keyed hash of
// the secret the gateway learned for that webhook_id (Registry), and never goes further: the
// stored Event has no field for it. Events are deduplicated on a hash of their fields for a
// window, so a delivery LiveChat repeats is stored once, and the receiver answers 200 only once
// the Store has acknowledged the event, so that LiveChat retries any other.
//
// The Store's read side (Read after an id, a bounded count, a bounded wait) is what a subscriber
// needs to follow a license's stream and to resume after the last event it processed.
package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Event is one verified delivery, as stored: the delivery's fields but its secret_key, and when
// the gateway received it.
type Event struct {
	// ID is the event's id in its license's stream, "<milliseconds>-<sequence>" as Redis Streams
	// number entries; ids of one license grow with each event. Append sets it.
	ID        string
	WebhookID string
	Action    string
	// LicenseID is the delivery's license_id as text, whether it came as a string or a number.
	LicenseID string
	// Payload and AdditionalData are the delivery's JSON objects, compacted but otherwise as
	// received. AdditionalData is "{}" when the delivery had none.
	Payload        json.RawMessage
	AdditionalData json.RawMessage
	ReceivedAt     time.Time
}

// Store keeps verified events, one stream per license, for a bounded time and count.
type Store interface {
	// Append stores ev in license's stream unless an event with the same fields (all but ID and
	// ReceivedAt) was appended within the dedupe window: then it returns that event's id and
	// dup true, and stores nothing. It returns only once the event is stored (for Redis:
	// acknowledged by the server), and an error when it cannot say that it is.
	Append(ctx context.Context, license string, ev Event) (id string, dup bool, err error)
	// Read returns up to max events of license's stream whose ids follow after ("" for the
	// oldest kept), oldest first. When there are none it waits up to wait (0: not at all) for
	// one to be appended, and returns none when none came or ctx ended. It returns ErrTrimmed
	// when events following after have been dropped (older than the retention, or past the
	// length bound), so that a subscriber knows it has lost some, and ErrBadID for an after
	// that is not an id.
	Read(ctx context.Context, license, after string, max int, wait time.Duration) ([]Event, error)
	// Last returns the id of the last event appended to license's stream, or "" when none has
	// been within the retention: a subscriber that starts after it reads only what comes next.
	Last(ctx context.Context, license string) (string, error)
	// Close releases the Store's resources.
	Close() error
}

var (
	// ErrTrimmed reports a Read after an id whose following events have been dropped.
	ErrTrimmed = errors.New("webhooks: events after this id are no longer kept")
	// ErrBadID reports a Read after something that is not an event id.
	ErrBadID = errors.New("webhooks: not an event id (want <milliseconds>-<sequence>)")
)

// Limits of what a delivery's identifiers may be. They end up in Redis keys (the license) and in
// logs and metrics' neighbours (the webhook id, the action), so they must be short and plain: the
// upstream's ids are hex strings and numbers, its actions snake_case words.
var (
	licensePattern   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	webhookIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:@+-]{1,128}$`)
	actionPattern    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// ValidLicense reports whether license can name a stream: 1 to 64 letters, digits, '_', '.' or
// '-'. Stores refuse any other, so that no license id can reach outside its own keys (a '{'
// would move a Redis Cluster hash tag).
func ValidLicense(license string) bool { return licensePattern.MatchString(license) }

// dedupeHash is the hash an event is deduplicated on: its fields but the id and the time it
// was received, each length-prefixed so that no two events' fields run together into the same
// text. The secret_key is not among them, so the hash says nothing about it.
func dedupeHash(ev *Event) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range [][]byte{[]byte(ev.WebhookID), []byte(ev.Action), []byte(ev.LicenseID), ev.Payload, ev.AdditionalData} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// streamID is an event id, ordered as Redis orders stream ids.
type streamID struct{ ms, seq uint64 }

// parseID reads "<ms>-<seq>". "" is the id before every event.
func parseID(s string) (streamID, error) {
	if s == "" {
		return streamID{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, ErrBadID
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, ErrBadID
	}
	return streamID{ms, seq}, nil
}

func (i streamID) String() string { return fmt.Sprintf("%d-%d", i.ms, i.seq) }

func (i streamID) less(j streamID) bool { return i.ms < j.ms || (i.ms == j.ms && i.seq < j.seq) }

// Options bound a Store. A zero field takes its default.
type Options struct {
	// DedupeWindow is how long an event's hash is remembered, so that the same delivery again
	// is not stored again (WEBHOOK_DEDUPE_WINDOW). Default 1h.
	DedupeWindow time.Duration
	// Retention is how long an event is kept (WEBHOOK_RETENTION). Default 24h.
	Retention time.Duration
	// MaxLen bounds one license's stream (WEBHOOK_STREAM_MAX_LEN), exactly. Default 100,000.
	MaxLen int
	// Now is the clock retention is judged by. Default time.Now; tests move it.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultDedupeWindow = time.Hour
	DefaultRetention    = 24 * time.Hour
	DefaultMaxLen       = 100_000
)

func (o Options) withDefaults() Options {
	if o.DedupeWindow <= 0 {
		o.DedupeWindow = DefaultDedupeWindow
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxLen <= 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
