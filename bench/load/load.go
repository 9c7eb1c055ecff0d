// Package load is the REST load generator of make bench (bench/run): it sends one HTTP request
// over and over on a fixed number of keep-alive connections, either as fast as they allow
// (throughput at saturation) or at a fixed rate (latency at a given load).
package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config is one run.
type Config struct {
	URL    string
	Body   []byte
	Header http.Header
	// Concurrency is how many requests may be in flight at once, each on a connection of its
	// own (HTTP/1.1 keep-alive), as wrk's connections are.
	Concurrency int
	// Duration is how long requests are sent. A run that sends N requests instead sets N.
	Duration time.Duration
	N        int
	// Rate, when more than 0, sends that many requests a second on a fixed schedule (open
	// loop). Each latency is then measured from the request's scheduled time, not from when a
	// connection was free to send it, so that a server that falls behind shows as slow rather
	// than as sending fewer requests (coordinated omission). 0 sends as fast as the
	// connections allow.
	Rate float64
}

// Result sums up a run.
type Result struct {
	Requests int           // requests answered with a 2xx
	Errors   int           // requests that failed or were answered with anything else
	Elapsed  time.Duration // from the first request to the last answer
	P50, P99 time.Duration // over the 2xx answers
	// FirstError describes the first error, for the report.
	FirstError string
}

// RPS is the rate of answered requests.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Run sends the requests of cfg and waits for their answers.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency < 1 || (cfg.Duration <= 0 && cfg.N <= 0) {
		return Result{}, fmt.Errorf("load: need a concurrency and a duration or a count")
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.Concurrency,
		MaxConnsPerHost:     cfg.Concurrency,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()

	// Each request is sent when a time arrives on due, which is its scheduled time (or the
	// zero time at saturation).
	due := make(chan time.Time, 1024)
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	go schedule(ctx, cfg, start, due)

	type worker struct {
		lat    []time.Duration
		errors int
		first  string
	}
	workers := make([]worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			for at := range due {
				sent := time.Now()
				if at.IsZero() || at.After(sent) {
					at = sent // saturation, or one of a millisecond's requests sent a little early
				}
				if err := send(ctx, client, cfg); err != nil {
					if ctx.Err() != nil {
						return // the run's end, not the server's error
					}
					w.errors++
					if w.first == "" {
						w.first = err.Error()
					}
					continue
				}
				w.lat = append(w.lat, time.Since(at))
			}
		})
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start)}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.errors
		if res.FirstError == "" {
			res.FirstError = w.first
		}
	}
	res.Requests = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		res.P50, res.P99 = all[len(all)*50/100], all[len(all)*99/100]
	}
	return res, nil
}

// schedule sends the requests' times on due until ctx ends or N are sent, then closes it.
func schedule(ctx context.Context, cfg Config, start time.Time, due chan<- time.Time) {
	defer close(due)
	for sent := 0; cfg.N <= 0 || sent < cfg.N; {
		var at time.Time
		if cfg.Rate > 0 {
			at = start.Add(time.Duration(float64(sent) / cfg.Rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				// Sleeping to each request's time would cost a timer per request; a
				// millisecond's requests go out together, each still measured from its own time.
				if d > time.Millisecond {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d - time.Millisecond/2):
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case due <- at:
			sent++
		}
	}
}

// send makes one request and reads its whole answer.
func send(ctx context.Context, client *http.Client, cfg Config) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(cfg.Body))
	if err != nil {
		return err
	}
	req.Header = cfg.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}
