package upstream

import (
	"errors"
	"sync"
	"time"
)

// ErrShed is wrapped by the error of a call that the client refused without sending it, because
// too many calls were already in flight: all callers' (Options.MaxInFlight) or the same
// credential's (Options.MaxPerCredential). Such a call cost the upstream nothing, so it may be
// sent again after ShedRetryAfter.
var ErrShed = errors.New("too many upstream calls in flight")

// ShedRetryAfter is the wait suggested to a caller whose call was shed: long enough for the calls
// in flight to end (most take tens of milliseconds), short enough not to idle a service.
const ShedRetryAfter = time.Second

// ShedError is the error of a shed call. It is ErrShed.
type ShedError struct {
	Action string
	// PerCredential is true when the caller's own credential had too many calls in flight, false
	// when the whole client had.
	PerCredential bool
	// Limit is the limit that was reached.
	Limit int
}

func (e *ShedError) Error() string {
	if e.PerCredential {
		return "upstream " + e.Action + ": " + ErrShed.Error() + " for this credential"
	}
	return "upstream " + e.Action + ": " + ErrShed.Error()
}

// Is makes errors.Is(err, ErrShed) true.
func (e *ShedError) Is(target error) bool { return target == ErrShed }

// limiter admits calls while fewer than max are in flight, and fewer than perCred of one
// credential. It never queues: a call over a limit is refused at once, so that a slow upstream
// cannot pile up the gateway's goroutines and memory, and one busy credential cannot take the
// slots that others need.
type limiter struct {
	max, perCred int

	mu    sync.Mutex
	total int
	byKey map[string]int // in-flight calls per credential; a key is deleted at 0
}

func newLimiter(max, perCred int) *limiter {
	return &limiter{max: max, perCred: perCred, byKey: map[string]int{}}
}

// acquire admits one call of credential key, or returns a *ShedError. release must be called
// once when an admitted call ends.
func (l *limiter) acquire(action, key string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.max:
		return nil, &ShedError{Action: action, Limit: l.max}
	case l.byKey[key] >= l.perCred:
		return nil, &ShedError{Action: action, PerCredential: true, Limit: l.perCred}
	}
	l.total++
	l.byKey[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byKey[key]--; l.byKey[key] <= 0 {
				delete(l.byKey, key)
			}
		})
	}, nil
}

// inFlight returns the calls in flight, all and of key.
func (l *limiter) inFlight(key string) (all, ofKey int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byKey[key]
}
