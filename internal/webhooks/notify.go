package webhooks

import (
	"sync"
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

func newNotifier() *notifier { return &notifier{waiting: map[string]*waiters{}} }

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
