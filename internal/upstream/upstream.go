// Package upstream is the gateway's client of the LiveChat Configuration API v3.2: one POST per
// action call, with the region picked from the token, misdirected calls repaired, reads retried
// with backoff, and every answer other than 200 turned into an *Error. It is the one place where
// upstream statuses, transport failures and deadlines become typed errors, so that the service
// maps them to gRPC codes with one table (README.md, "Running the gateway").
//
// The caller's Authorization value is a credential: it is sent upstream unchanged and never
// written to an error or a log.
package upstream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/tracing"
)

// Defaults of Options, used where a field is zero.
const (
	// DefaultBaseURL is the production LiveChat API.
	DefaultBaseURL = "https://api.livechatinc.com"
	// DefaultTimeout is UPSTREAM_TIMEOUT's default: long enough for the slowest documented
	// action, short enough that a hung upstream does not pile up the gateway's calls.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxAttempts is how many times a read is sent at most.
	DefaultMaxAttempts = 3
	// DefaultBaseBackoff is the first retry's delay before jitter.
	DefaultBaseBackoff = 100 * time.Millisecond
	// DefaultMaxConns is how many connections the default HTTP client opens to the upstream
	// host at most (UPSTREAM_MAX_CONNS).
	DefaultMaxConns = 64
	// DefaultMaxAnswerBytes bounds what is read of one answer (UPSTREAM_MAX_ANSWER_BYTES), so
	// that a broken or hostile upstream cannot exhaust the gateway's memory. The largest
	// documented answers (list_agents of a big license) stay far below it.
	DefaultMaxAnswerBytes = 8 << 20
)

// actionPath is where the upstream serves an action; the action's name is appended.
const actionPath = "/v3.2/configuration/action/"

// The regions of the spec's "Data centers". dal is the default and needs no header, but the
// client always sends X-Region so that the region it used is never in doubt.
const (
	regionDal     = "dal"
	regionFra     = "fra"
	defaultRegion = regionDal
)

// errMisdirected is the upstream's error type for a call sent to the wrong region.
const errMisdirected = "misdirected_request"

// errTooManyRequests is the upstream's error type for a throttled call.
const errTooManyRequests = "too_many_requests"

// ErrUnavailable is wrapped by the errors of calls that got no answer from the upstream:
// connection refused or reset, DNS and TLS failures, a body cut short. The cause is wrapped as
// well. A deadline or a cancellation is not ErrUnavailable; test those with
// context.DeadlineExceeded and context.Canceled.
var ErrUnavailable = errors.New("upstream unavailable")

// ErrMaybeApplied is wrapped by the errors of writes that may have reached the upstream although
// no answer to them came back: the connection broke or the deadline passed after a connection
// had been obtained for the request, or the answer could not be read. The write may have been
// applied. It is never sent again; the caller must treat its outcome as unknown.
var ErrMaybeApplied = errors.New("the write may have been applied")

// ErrAnswerTooLarge is wrapped by the error of a call whose 200 answer is larger than
// Options.MaxAnswerBytes. Sending it again would get the same answer, so it is not retried.
var ErrAnswerTooLarge = errors.New("the answer is larger than the gateway's limit")

// Options configure a Client. The zero value of each field stands for its default.
type Options struct {
	// BaseURL is the upstream's address, an absolute http or https URL without query or
	// fragment; a path is kept as a prefix. Default DefaultBaseURL.
	BaseURL string
	// Timeout caps one Do call, retries included (UPSTREAM_TIMEOUT). A caller's earlier
	// deadline wins. Default DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts is how many times a read is sent at most, and how many times a write is
	// tried when no connection could be made. Default DefaultMaxAttempts.
	MaxAttempts int
	// BaseBackoff is the first retry's delay before jitter; it doubles with each retry.
	// Default DefaultBaseBackoff.
	BaseBackoff time.Duration
	// HTTPClient sends the calls. Default: one client built by New, with a pooled Transport
	// that keeps enough idle connections to the one upstream host and attempts HTTP/2. A
	// client given here is used as is, redirect policy included.
	HTTPClient *http.Client
	// Logger receives retries at debug level and odd answers at warn. Default slog.Default().
	Logger *slog.Logger
	// MaxConns caps the default HTTP client's connections to the upstream host. Calls beyond
	// it wait for a connection. Default DefaultMaxConns.
	MaxConns int
	// MaxInFlight caps the calls in Do at once, waiting ones included; past it a call fails at
	// once with a *ShedError. Default 3 × MaxConns.
	MaxInFlight int
	// MaxPerCredential caps the calls in Do at once with the same Authorization value, so that
	// one caller cannot take every slot; past it a call fails at once with a *ShedError.
	// Default a quarter of MaxConns, at least 1.
	MaxPerCredential int
	// MaxAnswerBytes bounds one answer's body. Default DefaultMaxAnswerBytes.
	MaxAnswerBytes int
	// Metrics, when set, registers the client's series: calls and their durations by action and
	// outcome, retries, region repairs, shed calls and calls in flight.
	Metrics prometheus.Registerer
	// TracerProvider, when it records (tracing.Enabled), gives each HTTP attempt a client span
	// named "POST /v3.2/configuration/action/<action>", and sends its context upstream as
	// traceparent. It applies to the default HTTP client only: a client given in HTTPClient is
	// used as is.
	TracerProvider trace.TracerProvider
}

// Client calls the upstream. It is safe for concurrent use; build one with New and share it,
// so that connections are pooled.
type Client struct {
	base        string // BaseURL without a trailing slash
	timeout     time.Duration
	maxAttempts int
	baseBackoff time.Duration
	hc          *http.Client
	log         *slog.Logger
	maxAnswer   int
	limit       *limiter
	metrics     *metrics
	lifecycle   sync.Map // region → the lifecycle headers of its last answer

	// jitter returns a random duration in [0, d]. Tests replace it to make waits known.
	jitter func(d time.Duration) time.Duration
}

// New returns a Client of o, with defaults for the zero fields. It refuses bad values, naming
// each of them.
func New(o Options) (*Client, error) {
	var errs []error
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(o.BaseURL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("BaseURL %q is not a URL", o.BaseURL))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		errs = append(errs, fmt.Errorf("BaseURL %q is not an absolute http or https URL", o.BaseURL))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		// The action path is appended; a query or fragment would end up in front of it.
		errs = append(errs, fmt.Errorf("BaseURL %q has a query or fragment", o.BaseURL))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("negative Timeout %v", o.Timeout))
	}
	if o.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("negative MaxAttempts %d", o.MaxAttempts))
	}
	if o.BaseBackoff < 0 {
		errs = append(errs, fmt.Errorf("negative BaseBackoff %v", o.BaseBackoff))
	}
	if o.MaxConns < 0 || o.MaxInFlight < 0 || o.MaxPerCredential < 0 || o.MaxAnswerBytes < 0 {
		errs = append(errs, errors.New("negative MaxConns, MaxInFlight, MaxPerCredential or MaxAnswerBytes"))
	}
	maxConns := cmp.Or(o.MaxConns, DefaultMaxConns)
	if o.MaxInFlight != 0 && o.MaxInFlight < maxConns {
		errs = append(errs, fmt.Errorf("MaxInFlight %d is less than MaxConns %d", o.MaxInFlight, maxConns))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("upstream: %w", errors.Join(errs...))
	}
	c := &Client{
		base:        strings.TrimRight(o.BaseURL, "/"),
		timeout:     cmp.Or(o.Timeout, DefaultTimeout),
		maxAttempts: cmp.Or(o.MaxAttempts, DefaultMaxAttempts),
		baseBackoff: cmp.Or(o.BaseBackoff, DefaultBaseBackoff),
		hc:          o.HTTPClient,
		log:         o.Logger,
		maxAnswer:   cmp.Or(o.MaxAnswerBytes, DefaultMaxAnswerBytes),
		limit:       newLimiter(cmp.Or(o.MaxInFlight, 3*maxConns), cmp.Or(o.MaxPerCredential, max(1, maxConns/4))),
		jitter:      fullJitter,
	}
	c.metrics = newMetrics(o.Metrics, c.limit)
	if c.hc == nil {
		c.hc = newHTTPClient(maxConns)
		if tracing.Enabled(o.TracerProvider) {
			c.hc.Transport = tracing.Transport(c.hc.Transport, o.TracerProvider, spanName)
		}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// newHTTPClient returns the client a Client uses by default, with at most maxConns connections
// to the upstream host. It has no Client.Timeout: each call's deadline comes from its context.
func newHTTPClient(maxConns int) *http.Client {
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second, // a dial that takes longer will not succeed usefully
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 5 * time.Second,
		// Every call goes to the same host: net/http's default of 2 idle connections per host
		// would close and reopen connections under any concurrency.
		MaxConnsPerHost:        maxConns,
		MaxIdleConns:           maxConns,
		MaxIdleConnsPerHost:    maxConns,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &http.Client{
		Transport: t,
		// A redirect would turn the POST into a GET or send the body and token to another
		// place; the upstream does not redirect its actions, so a redirect is an error answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// spanName names an attempt's span by the action, the last element of its path: the names are
// as many as the actions, whatever BaseURL's path prefix is.
func spanName(r *http.Request) string {
	return r.Method + " " + actionPath + path.Base(r.URL.Path)
}

// Request is one action call.
type Request struct {
	// Action is the upstream action's name, such as "get_agent".
	Action string
	// Read marks an idempotent action, which may be sent again after a failure.
	Read bool
	// Body is the JSON request body, sent as is.
	Body []byte
	// Authorization is the caller's Authorization header value, such as "Bearer dal:...",
	// sent unchanged; empty sends none.
	Authorization string
	// Region is the caller's X-Region, or "" to take it from the token's prefix ("fra:" is
	// fra); the default is dal.
	Region string
}

// Response is the upstream's 200 answer.
type Response struct {
	// Body is the answer's body, at most Options.MaxAnswerBytes.
	Body []byte
	// Legacy is the answer's Legacy header, if any: the date its API version's legacy stage
	// ends.
	Legacy string
	// Deprecation is the answer's Deprecation header, if any.
	Deprecation string
	// Region is the region that answered, which differs from the request's after a repaired
	// misdirected_request.
	Region string
	// Attempts is how many times the call was sent, 1 when the first attempt answered.
	Attempts int
}

// Error is an answer of the upstream other than 200. Its message never holds the caller's
// token: wherever the upstream echoes it, it is redacted.
type Error struct {
	// Action is the action that was called.
	Action string
	// Status is the HTTP status.
	Status int
	// Type is the body's error.type, or "" when the body was not the upstream's JSON error
	// shape {"error":{"type","message","data"?}}.
	Type string
	// Message is the body's error.message.
	Message string
	// Data is the body's error.data, such as misdirected_request's {"region": "fra"}.
	Data map[string]any
	// RetryAfter is the answer's Retry-After, in seconds or as an HTTP date; 0 if none.
	RetryAfter time.Duration
	// Legacy and Deprecation are the answer's lifecycle headers, if any.
	Legacy, Deprecation string
	// Region is the region that answered.
	Region string
}

// Error returns the action, status, type and message.
func (e *Error) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("upstream %s: HTTP %d without an error body", e.Action, e.Status)
	}
	s := fmt.Sprintf("upstream %s: HTTP %d %s", e.Action, e.Status, e.Type)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Do sends r, retrying as r allows, and returns the 200 answer or an error:
//
//   - *Error for any other answer, after retries;
//   - an error that is context.DeadlineExceeded or context.Canceled when the deadline (the
//     ctx's, capped by Options.Timeout) or the caller ended the call;
//   - an error that is ErrUnavailable when no answer came;
//   - for a write, an error that is also ErrMaybeApplied when it may have reached the upstream
//     nonetheless: a connection was obtained for it, and no answer of the upstream's says what
//     happened;
//   - a *ShedError (ErrShed) when too many calls were in flight to admit it; it was not sent;
//   - an error that is ErrAnswerTooLarge for a 200 answer over Options.MaxAnswerBytes;
//   - a plain error for a request that cannot be sent (bad action name, region or header).
//
// A misdirected_request is sent once more to the region its data names, for reads and writes
// alike: the upstream refused it without doing anything. Reads are also sent again on
// transport errors, 5xx and too_many_requests, up to Options.MaxAttempts attempts in all, after
// a backoff with full jitter or the Retry-After, whichever is longer, unless that wait would
// outlast the deadline. A write is sent again only when no connection could be made for it,
// since otherwise it may have reached the upstream.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	if r == nil {
		return nil, errors.New("upstream: nil request")
	}
	start := time.Now()
	resp, err := c.do(ctx, r)
	c.metrics.observe(r.Action, err, time.Since(start))
	return resp, err
}

// do is Do without the metrics.
func (c *Client) do(ctx context.Context, r *Request) (*Response, error) {
	if !validAction(r.Action) {
		return nil, fmt.Errorf("upstream: invalid action name %q", r.Action)
	}
	if !validHeaderValue(r.Authorization) {
		// The value is a credential: it is not quoted.
		return nil, fmt.Errorf("upstream %s: the Authorization value is not a valid header value", r.Action)
	}
	region := normalizeRegion(r.Region)
	switch {
	case r.Region == "":
		region = regionOf(r.Authorization)
	case !validRegion(region):
		return nil, fmt.Errorf("upstream %s: invalid region %q", r.Action, r.Region)
	}

	release, err := c.limit.acquire(r.Action, r.Authorization)
	if err != nil {
		return nil, err
	}
	defer release()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	redact := redactor(r.Authorization)
	var (
		attempts   int
		misdirects int // misdirected_request repairs sent; at most 1
		lastErr    error
		sent       bool // some attempt may have reached the upstream: it had a connection, and no answer
	)
	// unknown marks the error of a write that may have been applied; an answer of the upstream's
	// own (*Error) says what happened, so it is left alone.
	unknown := func(err error) error {
		if r.Read || !sent || errors.As(err, new(*Error)) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrMaybeApplied, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, unknown(c.ended(r.Action, attempts, lastErr, err))
		}
		attempts++
		resp, connected, err := c.once(ctx, r, region, redact)
		if err == nil {
			resp.Attempts = attempts
			return resp, nil
		}
		var ue *Error
		isAnswer := errors.As(err, &ue)
		// An answer says what became of the attempt (a misdirected write was not applied);
		// without one, an attempt that had a connection may have reached the upstream.
		sent = sent || connected && !isAnswer
		if ctxErr := ctx.Err(); ctxErr != nil && !isAnswer {
			// The deadline or the caller ended this attempt; whatever it failed with is a
			// consequence. A complete answer that arrived at the deadline is kept: it says
			// more, and the checks below return it rather than retry.
			return nil, unknown(c.ended(r.Action, attempts, lastErr, ctxErr))
		}
		lastErr = err

		if isAnswer && ue.Type == errMisdirected {
			next := normalizeRegion(dataString(ue.Data, "region"))
			if misdirects > 0 || next == region || !validRegion(next) {
				return nil, unknown(err)
			}
			misdirects++
			c.metrics.repairs.WithLabelValues(actionLabel(r.Action)).Inc()
			c.log.DebugContext(ctx, "upstream misdirected; sending to the region it named",
				"action", r.Action, "attempt", attempts, "from", region, "to", next)
			region = next
			continue // no wait: the upstream refused it at once and said where to go
		}

		// The misdirect repair is not a failure and does not use up the budget of attempts.
		if attempts-misdirects >= c.maxAttempts || !retryable(r.Read, connected, err) {
			return nil, unknown(err)
		}
		wait := c.backoff(attempts - misdirects)
		if ue != nil && ue.RetryAfter > wait {
			wait = ue.RetryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// Waiting would end after the deadline and the next attempt could not answer in
			// time: the last answer is more useful to the caller than a bare deadline.
			c.log.DebugContext(ctx, "upstream retry would outlast the deadline",
				"action", r.Action, "attempt", attempts, "wait", wait, "err", err)
			return nil, unknown(err)
		}
		c.log.DebugContext(ctx, "upstream retry", "action", r.Action, "attempt", attempts, "wait", wait, "err", err)
		c.metrics.retries.WithLabelValues(actionLabel(r.Action)).Inc()
		if !sleep(ctx, wait) {
			return nil, unknown(c.ended(r.Action, attempts, lastErr, ctx.Err()))
		}
	}
}

// lifecycle is an answer's Legacy and Deprecation headers.
type lifecycle struct{ legacy, deprecation string }

// Lifecycle returns the Legacy and Deprecation headers of the last answer that had them from the
// region that a call with the Authorization value auth and the X-Region region would go to, or
// "" and "" when none has come yet. The gateway sends them with the refusals it makes itself, so
// that every answer carries them, as every upstream answer does.
func (c *Client) Lifecycle(auth, region string) (legacy, deprecation string) {
	r := normalizeRegion(region)
	if region == "" {
		r = regionOf(auth)
	}
	if v, ok := c.lifecycle.Load(r); ok {
		l := v.(lifecycle)
		return l.legacy, l.deprecation
	}
	return "", ""
}

// ended returns the error of a call that its context ended, after attempts, the last of
// which, if any, failed with last. It wraps ctxErr so that errors.Is finds it.
func (c *Client) ended(action string, attempts int, last, ctxErr error) error {
	if last == nil {
		return fmt.Errorf("upstream %s: %w (after %d attempts)", action, ctxErr, attempts)
	}
	return fmt.Errorf("upstream %s: %w (after %d attempts; an earlier one failed: %v)", action, ctxErr, attempts, last)
}

// retryable reports whether a call that failed with err may be sent again. connected reports
// whether a connection was obtained for it, after which a write may have reached the upstream.
func retryable(read, connected bool, err error) bool {
	if !read {
		return !connected && errors.Is(err, ErrUnavailable)
	}
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Status >= 500 || ue.Status == http.StatusTooManyRequests || ue.Type == errTooManyRequests
	}
	return errors.Is(err, ErrUnavailable)
}

// backoff returns the wait before retry n (1 for the first): full jitter over an exponential
// ceiling, so that many gateways retrying at once spread out. The ceiling stops at the
// Timeout, since no wait may be longer than a whole call.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.baseBackoff
	for i := 1; i < n && ceil < c.timeout; i++ {
		ceil *= 2
	}
	return c.jitter(min(ceil, c.timeout))
}

// fullJitter returns a random duration in [0, d].
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// sleep waits for d, or until ctx is done, and reports whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// once sends r to region one time. connected reports whether a connection was obtained for it,
// that is whether it may have reached the upstream.
func (c *Client) once(ctx context.Context, r *Request, region string, redact func(string) string) (*Response, bool, error) {
	// Atomic because a transport may report from a goroutine of its own.
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost,
		c.base+actionPath+r.Action, bytes.NewReader(r.Body))
	if err != nil {
		return nil, false, fmt.Errorf("upstream %s: %w", r.Action, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if r.Authorization != "" {
		req.Header.Set("Authorization", r.Authorization)
	}
	req.Header.Set("X-Region", region)
	if id := requestid.From(ctx); id != "" {
		req.Header.Set("X-Request-Id", id)
	}

	hr, err := c.hc.Do(req)
	connected := gotConn.Load()
	if err != nil {
		return nil, connected, fmt.Errorf("upstream %s: %w: %w", r.Action, ErrUnavailable, err)
	}
	// Reading every answer to its end, errors included, puts the connection back in the pool.
	// An answer over the bound is abandoned instead: closing its connection is cheaper than
	// downloading the rest.
	defer hr.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hr.Body, int64(c.maxAnswer)+1))
	if err != nil {
		return nil, connected, fmt.Errorf("upstream %s: reading the answer: %w: %w", r.Action, ErrUnavailable, err)
	}
	tooLarge := len(body) > c.maxAnswer
	legacy, deprecation := hr.Header.Get("Legacy"), hr.Header.Get("Deprecation")
	if legacy != "" || deprecation != "" {
		c.lifecycle.Store(region, lifecycle{legacy, deprecation})
	}

	if hr.StatusCode == http.StatusOK {
		if tooLarge {
			return nil, connected, fmt.Errorf("upstream %s: %w (%d bytes)", r.Action, ErrAnswerTooLarge, c.maxAnswer)
		}
		return &Response{Body: body, Legacy: legacy, Deprecation: deprecation, Region: region}, connected, nil
	}

	ue := &Error{
		Action:      r.Action,
		Status:      hr.StatusCode,
		RetryAfter:  parseRetryAfter(hr.Header.Get("Retry-After"), time.Now()),
		Legacy:      legacy,
		Deprecation: deprecation,
		Region:      region,
	}
	if b, ok := parseErrorBody(body, tooLarge); ok {
		// The type and data keys are redacted too: an upstream that echoes the request may
		// put the token anywhere.
		ue.Type, ue.Message, ue.Data = redact(b.Type), redact(b.Message), redactData(b.Data, redact)
	} else {
		// Not the upstream's own answer: a proxy's page, a crash. The body is not logged, as
		// it might echo the request's headers.
		c.log.WarnContext(ctx, "upstream answered without its error body",
			"action", r.Action, "status", hr.StatusCode, "content_type", hr.Header.Get("Content-Type"),
			"body_bytes", len(body), "region", region)
	}
	return nil, connected, ue
}

// errorBody is the upstream's error shape.
type errorBody struct {
	Type    string          `json:"type"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// parsedError is an errorBody with its data decoded.
type parsedError struct {
	Type, Message string
	Data          map[string]any
}

// parseErrorBody decodes the upstream's {"error":{"type","message","data"?}}, and reports
// whether body had that shape. Data that is not an object is dropped rather than refusing the
// whole body, since the type is what matters.
func parseErrorBody(body []byte, truncated bool) (parsedError, bool) {
	if truncated {
		return parsedError{}, false
	}
	var v struct {
		Error *errorBody `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Error == nil || v.Error.Type == "" {
		return parsedError{}, false
	}
	p := parsedError{Type: v.Error.Type, Message: v.Error.Message}
	if len(v.Error.Data) > 0 {
		var data map[string]any
		if json.Unmarshal(v.Error.Data, &data) == nil {
			p.Data = data
		}
	}
	return p, true
}

// parseRetryAfter returns the wait that a Retry-After value asks for, in seconds or as an HTTP
// date relative to now; 0 if v is empty, invalid or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Beyond a day is nonsense; the bound keeps the multiplication from overflowing.
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour) // Sub saturates at ~292 years
	}
	return 0
}

// dataString returns data[key] when it is a string, else "".
func dataString(data map[string]any, key string) string {
	s, _ := data[key].(string)
	return s
}

// validAction reports whether name can be an action's path segment. Actions are snake_case;
// anything else could change the path.
func validAction(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// normalizeRegion returns a region as the upstream spells it, lowercase.
func normalizeRegion(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// validRegion reports whether s can be a region's name. Regions other than dal and fra are let
// through, since the upstream may add data centers; it refuses them itself if they are wrong.
func validRegion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no control characters
// other than tab. net/http would refuse it, but as a transport error, which would look like an
// upstream failure.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// bearerToken returns the token of a "Bearer <token>" Authorization value, or "". A tab
// separates the scheme from the token as a space does: the token of such a value is still
// found, and so redacted.
func bearerToken(auth string) string {
	auth = strings.TrimSpace(auth)
	i := strings.IndexAny(auth, " \t")
	if i < 0 || !strings.EqualFold(auth[:i], "Bearer") {
		return ""
	}
	return strings.TrimSpace(auth[i+1:])
}

// regionOf returns the region of a token's prefix ("fra:..." is fra), or dal, the spec's
// default, when the prefix is not a known region.
func regionOf(auth string) string {
	prefix, _, ok := strings.Cut(bearerToken(auth), ":")
	if !ok {
		return defaultRegion
	}
	switch p := strings.ToLower(prefix); p {
	case regionDal, regionFra:
		return p
	}
	return defaultRegion
}

// minRedactLen is the shortest secret that is redacted. Shorter values are no real credential,
// and replacing them would mangle ordinary words.
const minRedactLen = 6

// redactor returns a function that removes the Authorization value, and its token, from text
// the upstream sent back, in case it echoes them.
func redactor(auth string) func(string) string {
	var secrets []string
	for _, s := range []string{strings.TrimSpace(auth), bearerToken(auth)} {
		if len(s) >= minRedactLen {
			secrets = append(secrets, s)
		}
	}
	return func(s string) string {
		for _, secret := range secrets {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
		return s
	}
}

// redactData redacts the keys and string values of data, at any depth.
func redactData(data map[string]any, redact func(string) string) map[string]any {
	if data == nil {
		return nil
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[redact(k)] = redactValue(v, redact)
	}
	return out
}

func redactValue(v any, redact func(string) string) any {
	switch v := v.(type) {
	case string:
		return redact(v)
	case map[string]any:
		return redactData(v, redact)
	case []any:
		for i := range v {
			v[i] = redactValue(v[i], redact)
		}
	}
	return v
}
