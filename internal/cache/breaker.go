package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// ErrSkipped is wrapped by the errors of calls that Breaker did not send to the store, because
// the store has been failing.
var ErrSkipped = errors.New("cache: store skipped while it is failing")

// BreakerOptions tune a Breaker. A zero field takes its default.
type BreakerOptions struct {
	// Failures is how many calls in a row must fail to open the breaker. Default 5: one lost
	// packet is not an outage, and five timeouts of a sick Redis cost little.
	Failures uint32
	// Cooldown is how long an open breaker sends nothing to the store before it lets one call
	// through as a probe. Default 1s: short enough that caching resumes within a second of Redis
	// returning, long enough that a dead Redis costs one timeout a second, not one a read.
	Cooldown time.Duration
	// OnStateChange, when set, is told of each change of state: "closed", "open" or
	// "half-open".
	OnStateChange func(from, to string)
}

// Breaker is a Store that stops calling its store while that store fails, with
// github.com/sony/gobreaker. After BreakerOptions.Failures failures in a row it is open: calls
// fail at once with ErrSkipped, so that an outage costs no store timeout per request. After the
// cool-down one call goes through as a probe; if it succeeds the breaker closes and the store is
// used again, with no restart.
//
// A call whose caller cancelled it is neither a failure nor a success: a client that hung up
// says nothing about Redis. Nor is one that found every pooled connection busy (a burst of
// reads on a healthy Redis), while the calls that hold those connections count: if Redis hangs,
// they time out and open the breaker. A deadline that passed is a failure, whoever set it: a
// store that cannot answer within the time the caller had for it is of no use to that caller,
// and were deadlines not counted, callers with short ones would keep a hung store's breaker
// closed and each spend its whole time waiting on it.
type Breaker struct {
	s  Store
	cb *gobreaker.CircuitBreaker[any]
}

// NewBreaker wraps s in a breaker tuned by o.
func NewBreaker(s Store, o BreakerOptions) *Breaker {
	if o.Failures == 0 {
		o.Failures = 5
	}
	if o.Cooldown <= 0 {
		o.Cooldown = time.Second
	}
	st := gobreaker.Settings{
		Name:        "cache",
		MaxRequests: 1,
		Timeout:     o.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= o.Failures },
		IsExcluded:  func(err error) bool { return errors.As(err, new(uncounted)) },
	}
	if o.OnStateChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { o.OnStateChange(from.String(), to.String()) }
	}
	return &Breaker{s: s, cb: gobreaker.NewCircuitBreaker[any](st)}
}

// State returns the breaker's state: "closed", "open" or "half-open".
func (b *Breaker) State() string { return b.cb.State().String() }

// uncounted marks the error of a call that says nothing about the store's health (its caller
// cancelled it, or it never got a connection), which the breaker does not count.
type uncounted struct{ err error }

func (e uncounted) Error() string { return e.err.Error() }

// do runs op through the breaker.
func (b *Breaker) do(ctx context.Context, op func() error) error {
	_, err := b.cb.Execute(func() (any, error) {
		err := op()
		if err != nil && (errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, redis.ErrPoolTimeout)) {
			return nil, uncounted{err}
		}
		return nil, err
	})
	var u uncounted
	switch {
	case errors.As(err, &u):
		return u.err
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return fmt.Errorf("%w (%v)", ErrSkipped, err)
	}
	return err
}

// Lookup is the store's Lookup, unless the breaker is open.
func (b *Breaker) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (gen int64, val []byte, ok bool, err error) {
	err = b.do(ctx, func() error {
		var err error
		gen, val, ok, err = b.s.Lookup(ctx, genKey, key, ttl)
		return err
	})
	return gen, val, ok, err
}

// Fill is the store's Fill, unless the breaker is open.
func (b *Breaker) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (stored bool, err error) {
	err = b.do(ctx, func() error {
		var err error
		stored, err = b.s.Fill(ctx, genKey, gen, key, val, ttl)
		return err
	})
	return stored, err
}

// Bump is the store's Bump, unless the breaker is open.
func (b *Breaker) Bump(ctx context.Context, genKey string, ttl time.Duration) (gen int64, err error) {
	err = b.do(ctx, func() error {
		var err error
		gen, err = b.s.Bump(ctx, genKey, ttl)
		return err
	})
	return gen, err
}

// Ping asks the store itself, whatever the breaker's state: it reports on the store.
func (b *Breaker) Ping(ctx context.Context) error { return b.s.Ping(ctx) }

// Close closes the store.
func (b *Breaker) Close() error { return b.s.Close() }
