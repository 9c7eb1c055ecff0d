package webhooks

import (
	"context"
	"sync"
	"time"
)

// AppendedChannel is the Redis pub/sub channel on which every append to a RedisStore announces
// its license, so that the readers waiting on that license's stream, on every replica, read
// again. Messages hold a license id, nothing else.
const AppendedChannel = "livechat-gateway:webhooks"

// notifier wakes the readers waiting on a license's stream when an append to it is announced
// (cache.Listen tells it, as a cache.Listener). It tells them too whether announcements are
// arriving: while its subscription is down, they cannot wait for one and poll instead. Its memory
// is one entry per license with readers waiting now.
type notifier struct {
	mu      sync.Mutex
	healthy bool
	waiting map[string]*waiters
}

// waiters are the readers waiting on one license: woken is closed by the next announcement.
type waiters struct {
	woken chan struct{}
	n     int
}

// newNotifier returns a notifier; healthy says whether announcements arrive from the start (in
// process, they always do).
func newNotifier(healthy bool) *notifier {
	return &notifier{healthy: healthy, waiting: map[string]*waiters{}}
}

// wait returns a channel closed at the next announcement for license (or at the subscription's
// confirmation or loss), whether announcements are arriving, and the release that the reader
// must call when it stops waiting.
func (n *notifier) wait(license string) (<-chan struct{}, bool, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.waiting[license]
	if w == nil {
		w = &waiters{woken: make(chan struct{})}
		n.waiting[license] = w
	}
	w.n++
	return w.woken, n.healthy, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if w.n--; w.n == 0 && n.waiting[license] == w {
			delete(n.waiting, license)
		}
	}
}

// wake wakes license's readers; n.mu is held.
func (n *notifier) wake(license string) {
	if w := n.waiting[license]; w != nil {
		close(w.woken)
		w.woken = make(chan struct{})
	}
}

// wakeAll wakes every reader and records whether announcements arrive from now on.
func (n *notifier) wakeAll(healthy bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.healthy = healthy
	for license := range n.waiting {
		n.wake(license)
	}
}

// Subscribed: announcements arrive from now on; those missed before are read by waking everyone.
func (n *notifier) Subscribed() { n.wakeAll(true) }

// Message: an append to the license in the payload.
func (n *notifier) Message(license string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.wake(license)
}

// Lost: announcements may be missed from now on: wake everyone, to poll.
func (n *notifier) Lost() { n.wakeAll(false) }

// Alive is nothing to the notifier: a silent subscription costs a reader only its wait.
func (n *notifier) Alive() {}

// pollInterval is how often a waiting read reads again while announcements may be missed.
const pollInterval = 250 * time.Millisecond

// readWaiting is a Store's Read: it reads with read, and when that finds nothing waits up to
// wait for an append to license to be announced to n, reading again each time one is (or every
// pollInterval while announcements may be missed). A reader that has gone gets nothing and no
// error.
func readWaiting(ctx context.Context, n *notifier, license string, wait time.Duration, read func() ([]Event, error)) ([]Event, error) {
	deadline := time.Now().Add(wait)
	for {
		// Waiting starts before the read, so that an append between the two wakes it.
		woken, healthy, release := n.wait(license)
		events, err := read()
		remaining := time.Until(deadline)
		if err != nil || len(events) > 0 || remaining <= 0 || ctx.Err() != nil {
			release()
			if ctx.Err() != nil {
				return nil, nil
			}
			return events, err
		}
		if !healthy {
			remaining = min(remaining, pollInterval)
		}
		t := time.NewTimer(remaining)
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		release()
	}
}
