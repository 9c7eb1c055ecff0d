package cache

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Listener is told what happens to a Redis pub/sub subscription that Listen keeps. Its methods
// are called from Listen's goroutine, one at a time.
type Listener interface {
	// Subscribed: the subscription is confirmed. Messages published before it may have been
	// missed.
	Subscribed()
	// Message: a message was published on the channel.
	Message(payload string)
	// Lost: the subscription failed, or went quiet and did not answer a ping; Listen subscribes
	// again after a backoff. Messages published from now on are missed until Subscribed.
	Lost()
	// Alive: a sign of life (any event, or a pong); called after each of the others too.
	Alive()
}

// Backoff between subscription attempts.
const (
	listenRetryMin = 50 * time.Millisecond
	listenRetryMax = 2 * time.Second
)

// Listen subscribes c to channel until ctx ends, subscribing again, after a backoff, whenever
// the subscription fails. A subscription that stays quiet is pinged every ping; one that has
// shown no sign of life for three pings more than liveness is taken for dead and replaced, since
// a connection can die without an error (a half-open TCP connection, a paused server).
func Listen(ctx context.Context, c redis.UniversalClient, channel string, ping, liveness time.Duration, now func() time.Time, l Listener) {
	wait := listenRetryMin
	for ctx.Err() == nil {
		ps := c.Subscribe(ctx, channel)
		if serveSubscription(ctx, ps, ping, liveness, now, l) {
			wait = listenRetryMin // it worked for a while: the next failure is a new one
		}
		ps.Close()
		l.Lost()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// serveSubscription reads the subscription's events until it fails, and reports whether it was
// confirmed.
func serveSubscription(ctx context.Context, ps *redis.PubSub, ping, liveness time.Duration, now func() time.Time, l Listener) (confirmed bool) {
	// A read in progress does not see ctx end: closing the subscription ends it at once.
	defer context.AfterFunc(ctx, func() { ps.Close() })()
	alive := now()
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, ping)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !confirmed {
				return confirmed
			}
			// Quiet: ask for a sign of life. A connection that has given none for several
			// windows is taken for dead and replaced.
			if now().Sub(alive) > 3*liveness || ps.Ping(ctx) != nil {
				return confirmed
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				l.Subscribed()
				confirmed = true
			}
		case *redis.Message:
			l.Message(m.Payload)
		case *redis.Pong:
		}
		alive = now()
		l.Alive()
	}
	return confirmed
}
