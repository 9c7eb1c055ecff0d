package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Emulator is an in-memory LiveChat Configuration API v3.2. It is an http.Handler; see the
// package doc for what it serves. It is safe for concurrent use.
type Emulator struct {
	mu sync.Mutex // guards w
	w  *world

	calls map[string]*atomic.Int64 // per action, fixed at New

	latency      time.Duration
	errorRate    float64
	throttleRate float64
	deprecation  string
	legacy       string

	faultsMu sync.Mutex
	faults   map[string]*Fault

	conns Conns // fed by ConnState

	traceparents traceparentLog

	// Webhook deliveries: the client that makes them, a semaphore that bounds those in flight,
	// and their record.
	client     *http.Client
	sem        chan struct{}
	deliveries *deliveryLog
}

// traceparentsKept is how many traceparent headers the emulator keeps per action, the latest:
// enough for a test to find its own call's, bounded however many calls come.
const traceparentsKept = 8

// maxTraceparentBytes bounds one kept value. A valid traceparent has 55 characters; a longer one
// is kept cut, as it came, for a test to see that it was wrong.
const maxTraceparentBytes = 128

// traceparentLog keeps the latest traceparent headers of each action's calls.
type traceparentLog struct {
	mu       sync.Mutex
	byAction map[string][]string
}

func (l *traceparentLog) add(action, v string) {
	if len(v) > maxTraceparentBytes {
		v = v[:maxTraceparentBytes]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAction == nil {
		l.byAction = map[string][]string{}
	}
	kept := append(l.byAction[action], v)
	if len(kept) > traceparentsKept {
		kept = slices.Clone(kept[len(kept)-traceparentsKept:]) // a fresh array: the old one is let go
	}
	l.byAction[action] = kept
}

func (l *traceparentLog) get() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]string, len(l.byAction))
	for a, v := range l.byAction {
		out[a] = slices.Clone(v)
	}
	return out
}

func (l *traceparentLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.byAction)
}

// Fault is what SetFault makes one action do.
type Fault struct {
	// Error, when set, is the error type every call of the action answers with, one of
	// ErrorTypes.
	Error string
	// Latency is added to every call of the action, on top of the emulator's latency.
	Latency time.Duration
	// Times, when above 0, is how many calls the fault applies to; then it is cleared. 0 means
	// until ClearFaults or another SetFault.
	Times int
}

// DefaultDeprecation is the date sent in the Deprecation header unless WithDeprecation says
// otherwise. The spec marks v3.2 deprecated but gives no date; this one is a placeholder in the
// documented YYYY-MM-DD format.
const DefaultDeprecation = "2027-06-30"

// maxBodyBytes caps a request body, so that a runaway client cannot exhaust the emulator's
// memory. No documented request comes near it.
const maxBodyBytes = 4 << 20

type options struct {
	latency        time.Duration
	errorRate      float64
	throttleRate   float64
	deprecation    string
	legacy         string
	configs        []*Config
	seed           *uint64
	deliveryClient *http.Client
}

// Option configures an Emulator.
type Option func(*options)

// WithLatency adds d to every action call.
func WithLatency(d time.Duration) Option { return func(o *options) { o.latency = d } }

// WithErrorRate answers the fraction f (0 to 1) of action calls with 500 internal.
func WithErrorRate(f float64) Option { return func(o *options) { o.errorRate = f } }

// WithThrottleRate answers the fraction f (0 to 1) of action calls with 429 too_many_requests
// and Retry-After: 1.
func WithThrottleRate(f float64) Option { return func(o *options) { o.throttleRate = f } }

// WithDeprecation sets the date, YYYY-MM-DD, of every response's Deprecation header.
func WithDeprecation(date string) Option { return func(o *options) { o.deprecation = date } }

// WithLegacy makes every response carry Legacy: <date> (YYYY-MM-DD) instead of Deprecation, as
// the upstream does for an API version in its legacy stage: "API responses will contain one of
// two headers".
func WithLegacy(date string) Option { return func(o *options) { o.legacy = date } }

// WithConfig adds the licenses and tokens of c to the built-in ones.
func WithConfig(c *Config) Option { return func(o *options) { o.configs = append(o.configs, c) } }

// WithSeed makes the ids the emulator generates repeat from run to run.
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = &seed } }

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// New returns an emulator holding the built-in licenses and tokens and those of any WithConfig.
// It refuses options out of range, naming each.
func New(opts ...Option) (*Emulator, error) {
	o := options{deprecation: DefaultDeprecation}
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	if o.latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v is negative", o.latency))
	}
	if o.errorRate < 0 || o.errorRate > 1 {
		errs = append(errs, fmt.Errorf("error rate %v is not between 0 and 1", o.errorRate))
	}
	if o.throttleRate < 0 || o.throttleRate > 1 {
		errs = append(errs, fmt.Errorf("throttle rate %v is not between 0 and 1", o.throttleRate))
	}
	if _, err := time.Parse(time.DateOnly, o.deprecation); err != nil || !datePattern.MatchString(o.deprecation) {
		errs = append(errs, fmt.Errorf("deprecation date %q is not YYYY-MM-DD", o.deprecation))
	}
	if _, err := time.Parse(time.DateOnly, o.legacy); o.legacy != "" && (err != nil || !datePattern.MatchString(o.legacy)) {
		errs = append(errs, fmt.Errorf("legacy date %q is not YYYY-MM-DD", o.legacy))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("emulator: %w", errors.Join(errs...))
	}
	seed := rand.Uint64()
	if o.seed != nil {
		seed = *o.seed
	}
	w := &world{
		licenses: map[string]*license{},
		tokens:   map[string]*token{},
		rand:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	builtin, err := ParseConfig(builtinJSON)
	if err != nil {
		return nil, err
	}
	for _, c := range append([]*Config{builtin}, o.configs...) {
		if err := w.load(c); err != nil {
			return nil, err
		}
	}
	e := &Emulator{
		w: w, calls: map[string]*atomic.Int64{}, faults: map[string]*Fault{},
		latency: o.latency, errorRate: o.errorRate, throttleRate: o.throttleRate, deprecation: o.deprecation,
		legacy: o.legacy,
		client: o.deliveryClient, sem: make(chan struct{}, deliveryConcurrency), deliveries: newDeliveryLog(),
	}
	if e.client == nil {
		// Its own transport, so that a test's changes to the default one do not reach it, with
		// room to keep a connection for each delivery that may be in flight to one receiver.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = deliveryConcurrency
		e.client = &http.Client{Transport: t, Timeout: deliveryTimeout}
	}
	for name := range handlers {
		e.calls[name] = new(atomic.Int64)
	}
	return e, nil
}

// Calls returns how many calls each action has received since New or the last ResetCalls,
// refused ones included. Every action is present.
func (e *Emulator) Calls() map[string]int64 {
	out := make(map[string]int64, len(e.calls))
	for name, n := range e.calls {
		out[name] = n.Load()
	}
	return out
}

// ResetCalls sets every action's call count to 0, and forgets the traceparents received.
func (e *Emulator) ResetCalls() {
	for _, n := range e.calls {
		n.Store(0)
	}
	e.traceparents.reset()
}

// Traceparents returns, by action, the traceparent headers of the latest calls that had one (at
// most 8 per action, oldest first) since New or the last ResetCalls: what a gateway that traces
// propagated. Actions without any are absent.
func (e *Emulator) Traceparents() map[string][]string { return e.traceparents.get() }

// SetFault makes action behave as f says, replacing any fault it had. A zero Fault clears it.
func (e *Emulator) SetFault(action string, f Fault) error {
	if handlers[action] == nil {
		return fmt.Errorf("emulator: unknown action %q", action)
	}
	if f.Error != "" && !slices.Contains(ErrorTypes(), f.Error) {
		return fmt.Errorf("emulator: unknown error type %q, want one of %v", f.Error, ErrorTypes())
	}
	if f.Latency < 0 || f.Times < 0 {
		return fmt.Errorf("emulator: negative latency or times")
	}
	e.faultsMu.Lock()
	defer e.faultsMu.Unlock()
	if f == (Fault{}) {
		delete(e.faults, action)
	} else {
		e.faults[action] = &f
	}
	return nil
}

// ClearFaults removes every fault that SetFault made.
func (e *Emulator) ClearFaults() {
	e.faultsMu.Lock()
	defer e.faultsMu.Unlock()
	clear(e.faults)
}

// fault returns action's fault for one call, counting it against Times.
func (e *Emulator) fault(action string) Fault {
	e.faultsMu.Lock()
	defer e.faultsMu.Unlock()
	f := e.faults[action]
	if f == nil {
		return Fault{}
	}
	out := *f
	if f.Times > 0 {
		if f.Times--; f.Times == 0 {
			delete(e.faults, action)
		}
	}
	return out
}

// Tokens returns the configured tokens, sorted.
func (e *Emulator) Tokens() []TokenConfig {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []TokenConfig
	for _, t := range e.w.tokens {
		out = append(out, t.TokenConfig)
	}
	slices.SortFunc(out, func(a, b TokenConfig) int { return strings.Compare(a.Token, b.Token) })
	return out
}

// Snapshot returns the whole state as JSON. Two snapshots are equal exactly when the state is,
// so tests can check that a refused call changed nothing.
func (e *Emulator) Snapshot() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := json.Marshal(e.w.licenses)
	if err != nil {
		panic(err) // the state holds only JSON values
	}
	return b
}

// actionPath matches /v<version>/configuration/action/<action>.
var actionPath = regexp.MustCompile(`^/v([^/]+)/configuration/action/([^/]+)$`)

// ServeHTTP serves the actions, and the emulator's own endpoints under /emulator/.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.legacy != "" {
		w.Header().Set("Legacy", e.legacy)
	} else {
		w.Header().Set("Deprecation", e.deprecation)
	}
	if strings.HasPrefix(r.URL.Path, "/emulator/") {
		e.serveAdmin(w, r)
		return
	}
	m := actionPath.FindStringSubmatch(r.URL.Path)
	if m == nil || handlers[m[2]] == nil {
		writeError(w, http.StatusNotFound, newError(errNotFound, "no such action: %s", r.URL.Path))
		return
	}
	version, action := m[1], m[2]
	e.calls[action].Add(1)
	if tp := r.Header.Get("Traceparent"); tp != "" {
		e.traceparents.add(action, tp)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, newError(errValidation, "method %s is not allowed; actions take POST", r.Method))
		return
	}
	// The body is read first: only then does net/http watch the connection and cancel the
	// request's context when the client goes away, which ends an injected latency early.
	body, readErr := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	f := e.fault(action)
	if !sleep(r.Context(), e.latency+f.Latency) {
		return // the client is gone
	}
	if err := e.injected(r, f); err != nil {
		if err.Type == errTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, 0, err)
		return
	}
	if version != "3.2" {
		writeError(w, 0, newError(errUnsupportedVersion, "unsupported version v%s; this API is v3.2", version))
		return
	}
	status, answer := e.serveAction(r, action, body, readErr)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(answer)
}

// injected returns the error a call answers with by fault injection, or nil.
func (e *Emulator) injected(r *http.Request, f Fault) *apiError {
	switch {
	case f.Error != "":
		err := newError(f.Error, "")
		if f.Error == errMisdirectedRequest {
			err.Data = map[string]any{"region": e.regionForMisdirect(r)}
		}
		return err
	case e.throttleRate > 0 && rand.Float64() < e.throttleRate:
		return newError(errTooManyRequests, "")
	case e.errorRate > 0 && rand.Float64() < e.errorRate:
		return newError(errInternal, "")
	}
	return nil
}

// regionForMisdirect is the region a forced misdirected_request names: the token's own, so that
// a client that follows it succeeds, or else the region the request did not go to.
func (e *Emulator) regionForMisdirect(r *http.Request) string {
	e.mu.Lock()
	t := e.w.tokens[bearer(r)]
	e.mu.Unlock()
	if t != nil {
		return t.region
	}
	if requestRegion(r) == "fra" {
		return "dal"
	}
	return "fra"
}

// serveAction checks the call's credentials and body, read with error err, and runs the
// action's handler, returning the status and JSON body to answer with.
func (e *Emulator) serveAction(r *http.Request, action string, body []byte, err error) (int, []byte) {
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return encodeError(http.StatusRequestEntityTooLarge, invalid("", "request body is larger than %d bytes", maxBodyBytes))
		}
		return encodeError(0, invalid("", "cannot read the request body: %v", err))
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return encodeError(0, invalid("", "the Content-Type header must be application/json"))
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	tok := e.w.tokens[bearer(r)]
	if tok == nil {
		return encodeError(0, newError(errAuthentication, "Authentication error: missing or unknown access token"))
	}
	if region := requestRegion(r); region != tok.region {
		err := newError(errMisdirectedRequest, "Wrong region: the token belongs to region %s, not %s", tok.region, region)
		err.Data = map[string]any{"region": tok.region}
		return encodeError(0, err)
	}
	lic := e.w.licenses[tok.License]
	if lic.Expired {
		return encodeError(0, newError(errLicenseExpired, ""))
	}
	if lic.Agents[tok.Agent] == nil {
		return encodeError(0, newError(errAuthentication, "Authentication error: the token's agent no longer exists"))
	}
	c := &call{w: e.w, lic: lic, tok: tok}
	if err := c.parse(action, body); err != nil {
		return encodeError(0, err)
	}
	resp, apiErr := handlers[action](c)
	if apiErr != nil {
		return encodeError(0, apiErr)
	}
	e.fireLater(lic, c.events)
	if resp == nil {
		resp = map[string]any{}
	}
	// Encoded under the lock: the answer may share maps with the state.
	b, err := json.Marshal(resp)
	if err != nil {
		return encodeError(0, newError(errInternal, ""))
	}
	return http.StatusOK, b
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// requestRegion returns the region a request was sent to: its X-Region header, or dal.
func requestRegion(r *http.Request) string {
	if v := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Region"))); v != "" {
		return v
	}
	return defaultRegion
}

// sleep waits for d, or until ctx is done, and reports whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
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

// encodeError returns the status and body of err. A status of 0 is the error type's own.
func encodeError(status int, err *apiError) (int, []byte) {
	if status == 0 {
		status = err.status()
	}
	b, _ := json.Marshal(map[string]any{"error": err})
	return status, b
}

func writeError(w http.ResponseWriter, status int, err *apiError) {
	status, b := encodeError(status, err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// serveAdmin serves the emulator's own endpoints:
//
//	GET  /emulator/stats   {"calls": {"<action>": n, ...}, "connections": {"open": n, "peak": n},
//	                        "traceparents": {"<action>": ["00-...", ...], ...},
//	                        "deliveries": {"total": n, "failed": n, "in_flight": n}}
//	POST /emulator/reset   sets the call counters to 0 and the connection peak to the open ones,
//	                       and forgets the traceparents and the webhook deliveries
//	POST /emulator/events  {"license": "A", "action": "incoming_chat", "payload": {...}, ...} (an
//	                       Event): delivers it, answers {"deliveries": [...]} when all have ended
//	GET  /emulator/deliveries[?after=<seq>][&wait=<duration>]  the latest deliveries, oldest first
//	POST /emulator/faults  {"action": "...", "error": "...", "latency": "100ms", "times": n}
//	DELETE /emulator/faults clears every fault
//	GET  /emulator/tokens  the configured tokens
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /emulator/stats":
		writeJSON(w, e.stats())
	case "POST /emulator/reset":
		e.ResetCalls()
		e.conns.ResetPeak()
		e.ResetDeliveries()
		writeJSON(w, e.stats())
	case "POST /emulator/events":
		e.serveEvent(w, r)
	case "GET /emulator/deliveries":
		e.serveDeliveries(w, r)
	case "POST /emulator/faults":
		var req struct {
			Action  string `json:"action"`
			Error   string `json:"error"`
			Latency string `json:"latency"`
			Times   int    `json:"times"`
		}
		d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, invalid("", "fault: %v", err))
			return
		}
		f := Fault{Error: req.Error, Times: req.Times}
		if req.Latency != "" {
			lat, err := time.ParseDuration(req.Latency)
			if err != nil {
				writeError(w, http.StatusBadRequest, invalid("latency", "%v", err))
				return
			}
			f.Latency = lat
		}
		if err := e.SetFault(req.Action, f); err != nil {
			writeError(w, http.StatusBadRequest, invalid("", "%v", err))
			return
		}
		writeJSON(w, map[string]any{})
	case "DELETE /emulator/faults":
		e.ClearFaults()
		writeJSON(w, map[string]any{})
	case "GET /emulator/tokens":
		writeJSON(w, map[string]any{"tokens": e.Tokens()})
	default:
		writeError(w, http.StatusNotFound, newError(errNotFound, "no such emulator endpoint: %s", route))
	}
}

// stats is GET /emulator/stats's answer.
func (e *Emulator) stats() map[string]any {
	return map[string]any{
		"calls": e.Calls(), "connections": e.conns.Stats(), "traceparents": e.Traceparents(),
		"deliveries": e.deliveries.stats(),
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// OptionsFromEnv returns the options that the environment variables EMULATOR_LATENCY (a
// duration), EMULATOR_ERROR_RATE and EMULATOR_THROTTLE_RATE (fractions from 0 to 1) and
// EMULATOR_DEPRECATION and EMULATOR_LEGACY (YYYY-MM-DD) set. It reports every bad value at once, by name.
func OptionsFromEnv(getenv func(string) string) ([]Option, error) {
	var opts []Option
	var errs []error
	if v := getenv("EMULATOR_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("EMULATOR_LATENCY=%q: want a duration such as 50ms", v))
		}
		opts = append(opts, WithLatency(d))
	}
	rate := func(name string, with func(float64) Option) {
		v := getenv(name)
		if v == "" {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			errs = append(errs, fmt.Errorf("%s=%q: want a fraction from 0 to 1", name, v))
		}
		opts = append(opts, with(f))
	}
	rate("EMULATOR_ERROR_RATE", WithErrorRate)
	rate("EMULATOR_THROTTLE_RATE", WithThrottleRate)
	date := func(name string, with func(string) Option) {
		v := getenv(name)
		if v == "" {
			return
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want a date YYYY-MM-DD", name, v))
		}
		opts = append(opts, with(v))
	}
	date("EMULATOR_DEPRECATION", WithDeprecation)
	date("EMULATOR_LEGACY", WithLegacy)
	return opts, errors.Join(errs...)
}
