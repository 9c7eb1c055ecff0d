package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/upstream"
)

// fzMaxAnswerBytes is the largest answer the fuzzed client takes (Options.MaxAnswerBytes): small,
// so that answers past it cost little.
const fzMaxAnswerBytes = 4 << 10

// fzTokenPlaceholder and fzAuthPlaceholder, in a fuzzed body, stand for the request's token and
// its whole Authorization value: the stub echoes them, as a careless upstream or proxy would.
const (
	fzTokenPlaceholder = "$TOK"
	fzAuthPlaceholder  = "$AUTH"
)

// fzStub is an upstream in an http.RoundTripper: it answers every request with one answer, in
// which it echoes the request's credential where the body asks for it.
type fzStub struct {
	status      int
	contentType string
	retryAfter  string
	body        []byte // with the placeholders
	pad         bool   // pad the body past the size bound
	failRead    bool   // the body breaks off after its bytes
	failTrip    bool   // no answer at all
	sent        []byte // the last body sent, after substitution
}

func (s *fzStub) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if s.failTrip {
		return nil, errors.New("fuzz: connection reset")
	}
	auth := r.Header.Get("Authorization")
	var tok string // the last word of the value: the token, whatever the scheme
	if f := strings.Fields(auth); len(f) > 0 {
		tok = f[len(f)-1]
	}
	body := bytes.ReplaceAll(s.body, []byte(fzAuthPlaceholder), []byte(auth))
	body = bytes.ReplaceAll(body, []byte(fzTokenPlaceholder), []byte(tok))
	if s.pad && len(body) <= fzMaxAnswerBytes {
		body = append(body, bytes.Repeat([]byte(" "), fzMaxAnswerBytes+1-len(body))...)
	}
	s.sent = body
	h := http.Header{}
	if s.contentType != "" {
		h.Set("Content-Type", s.contentType)
	}
	if s.retryAfter != "" {
		h.Set("Retry-After", s.retryAfter)
	}
	var rd io.Reader = bytes.NewReader(body)
	if s.failRead {
		rd = io.MultiReader(rd, fzErrReader{})
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", s.status, http.StatusText(s.status)), StatusCode: s.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(rd), ContentLength: -1, Request: r,
	}, nil
}

type fzErrReader struct{}

func (fzErrReader) Read([]byte) (int, error) { return 0, errors.New("fuzz: connection reset mid-body") }

// fzTokenChar reports whether c may be in a fuzzed token: the characters of real tokens
// (base64url, and the region's colon). They occur in no fixed text of the client's errors after
// "dal:", so any occurrence of the token in an error came from the answer.
func fzTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~+/=:", c) >= 0
}

// fzAuthValue builds the Authorization value of form from token.
func fzAuthValue(form uint8, token string) string {
	switch form % 5 {
	case 1:
		return "bearer " + token
	case 2:
		return "BEARER   " + token + "  "
	case 3:
		return token // no scheme: the whole value is the credential
	case 4:
		return "Bearer\t" + token
	}
	return "Bearer " + token
}

// fzSpecAnswers returns the spec's example answers, for seeds.
func fzSpecAnswers(f *testing.F) map[string][]byte {
	files, err := filepath.Glob(filepath.Join("..", "rest", "testdata", "spec", "*.response.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no spec answers: %v", err)
	}
	out := map[string][]byte{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(file), ".response.json")] = b
	}
	return out
}

// FuzzAnswer gives Client.Do arbitrary answers: any status, Retry-After, Content-Type and body,
// through a stub RoundTripper that echoes the caller's credential where the body says. Nothing
// may panic; a 200 within the size bound is a Response with exactly the body; any other status
// is an *Error of that status; and no error, nor the log, holds the token.
func FuzzAnswer(f *testing.F) {
	const tok = "owner-a-fuzz"
	for _, b := range fzSpecAnswers(f) {
		f.Add(200, "application/json", "", b, uint8(0), tok, uint8(0))
	}
	// The 13 documented error types with their statuses (the emulator's) and default messages.
	for _, e := range []struct {
		status   int
		typ, msg string
	}{
		{401, "authentication", "Authentication error"}, {403, "authorization", "Authorization error"},
		{409, "already_exist", "Already exist"}, {404, "group_not_found", "Group not found"},
		{500, "internal", "Internal server error"}, {402, "license_expired", "License expired"},
		{403, "limit_reached", "Resource limit reached"}, {421, "misdirected_request", "Wrong region"},
		{404, "not_found", "Not found"}, {429, "too_many_requests", "Too many requests"},
		{409, "transfer_ownership", "Transfer ownership"}, {400, "unsupported_version", "Unsupported version"},
		{422, "validation", "Wrong format of request"},
	} {
		body := fmt.Sprintf(`{"error":{"type":%q,"message":%q}}`, e.typ, e.msg)
		f.Add(e.status, "application/json", "", []byte(body), uint8(0), tok, uint8(0))
	}
	seeds := []struct {
		status     int
		ctype, ra  string
		body       string
		mode, form uint8
	}{
		{421, "application/json", "", `{"error":{"type":"misdirected_request","message":"Wrong region","data":{"region":"fra"}}}`, 0, 0},
		{429, "application/json", "1", `{"error":{"type":"too_many_requests","message":"Too many requests"}}`, 0, 0},
		{429, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", `{"error":{"type":"too_many_requests","message":""}}`, 0, 0},
		{503, "text/html", "Fri, 31 Dec 9999 23:59:59 GMT", `<html>busy</html>`, 0, 0},
		{429, "", "99999999999999999999", ``, 0, 0},
		{401, "application/json", "", `{"error":{"type":"authentication","message":"unknown token $TOK in $AUTH"}}`, 0, 0},
		{401, "application/json", "", `{"error":{"type":"authentication","message":"token: $TOK","data":{"echo":"$AUTH","list":["$TOK",{"k":"$TOK"}]}}}`, 0, 1},
		{400, "application/json", "", `{"error":{"type":"$TOK","message":"x"}}`, 0, 2},
		{400, "application/json", "", `{"error":{"type":"validation","message":"x","data":{"$TOK":"y"}}}`, 0, 3},
		{503, "application/json", "", `{"error":{"type":"$TOK","message":"m"}}`, 4, 0}, // a read: retried, and logged
		{403, "application/json", "", `{"error":{"type":"authorization","message":"\u0024TOK"}}`, 0, 4},
		{200, "application/json", "", `{"echo":"$AUTH"}`, 0, 0},
		{200, "application/json", "", `{"id":"x"}`, 1, 0}, // padded past the bound
		{500, "application/json", "", `{"error":{`, 1, 0}, // padded: truncated
		{200, "application/json", "", `{"id":"x"}`, 2, 0}, // the body breaks off
		{200, "application/json", "", ``, 3, 0},           // no answer
		{302, "text/html", "", `moved`, 0, 0},             // a redirect is an answer
		{204, "", "", ``, 0, 0},                           // not 200
		{200, "application/json", "", `null`, 0, 0},
		{500, "application/json", "", `{"error":null}`, 0, 0},
		{502, "application/json", "", `{"error":{"type":"","message":"$TOK"}}`, 0, 0},
		{400, "application/json", "", `{"error":{"type":"validation","message":"x","data":[1]}}`, 0, 0},
		{400, "application/json", "", "{\"error\":{\"type\":\"validation\",\"message\":\"\xff\xfe$TOK\"}}", 0, 0},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ctype, s.ra, []byte(s.body), s.mode, tok, s.form)
	}
	f.Fuzz(func(t *testing.T, status int, ctype, retryAfter string, body []byte, mode uint8, tokSuffix string, form uint8) {
		// A status is three digits; net/http does not check one that a RoundTripper returns.
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		var b strings.Builder
		for i := 0; i < len(tokSuffix) && b.Len() < 64; i++ {
			if fzTokenChar(tokSuffix[i]) {
				b.WriteByte(tokSuffix[i])
			}
		}
		token := "dal:" + b.String()
		auth := fzAuthValue(form, token)
		stub := &fzStub{
			status: status, contentType: ctype, retryAfter: retryAfter, body: body,
			pad: mode%4 == 1, failRead: mode%4 == 2, failTrip: mode%4 == 3,
		}
		var logs bytes.Buffer
		c, err := upstream.New(upstream.Options{
			BaseURL: "http://upstream.invalid",
			// A read that fails is sent once more, at once, so that the retry's logging is
			// fuzzed too. Any Retry-After of a second or more outlasts the timeout, so the call
			// ends without a wait.
			MaxAttempts: 2,
			BaseBackoff: time.Nanosecond,
			Timeout:     time.Second,
			HTTPClient: &http.Client{
				Transport:     stub,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
			Logger:         slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			MaxAnswerBytes: fzMaxAnswerBytes,
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(context.Background(), &upstream.Request{
			Action: "get_agent", Read: mode&4 != 0, Body: []byte(`{"id":"a"}`), Authorization: auth,
		})
		// Tokens under 6 bytes are not redacted by design (they would mangle ordinary words).
		checkToken := len(token) >= 6
		leaks := func(what, s string) {
			t.Helper()
			if checkToken && strings.Contains(s, token) {
				t.Errorf("%s holds the token %q (status %d, body %q):\n%s", what, token, status, stub.sent, s)
			}
		}
		defer func() { leaks("the log", logs.String()) }()

		switch {
		case stub.failTrip, stub.failRead:
			if err == nil || !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("an answer cut short: Do = %v, %v; want ErrUnavailable", resp, err)
			}
		case status == http.StatusOK && len(stub.sent) <= fzMaxAnswerBytes:
			if err != nil {
				t.Fatalf("200 with %d bytes: Do = %v", len(stub.sent), err)
			}
			if !bytes.Equal(resp.Body, stub.sent) {
				t.Fatalf("200: Body = %q, want the answer's %q", resp.Body, stub.sent)
			}
			if resp.Region == "" || resp.Attempts < 1 {
				t.Fatalf("200: Region %q, Attempts %d", resp.Region, resp.Attempts)
			}
			return
		case status == http.StatusOK:
			if !errors.Is(err, upstream.ErrAnswerTooLarge) || resp != nil {
				t.Fatalf("200 with %d bytes, past the bound: Do = %v, %v; want ErrAnswerTooLarge", len(stub.sent), resp, err)
			}
		default:
			var ue *upstream.Error
			if !errors.As(err, &ue) || resp != nil {
				t.Fatalf("HTTP %d: Do = %v, %v; want an *upstream.Error", status, resp, err)
			}
			if ue.Status != status {
				t.Fatalf("HTTP %d: Error.Status = %d", status, ue.Status)
			}
			if ue.RetryAfter < 0 || ue.RetryAfter > 24*time.Hour {
				t.Fatalf("Retry-After %q: RetryAfter = %v, want 0 to 24h", retryAfter, ue.RetryAfter)
			}
			leaks("Error.Type", ue.Type)
			leaks("Error.Message", ue.Message)
			leaks("Error.Data", fmt.Sprint(ue.Data))
		}
		if err == nil {
			t.Fatalf("HTTP %d: Do = %v, nil", status, resp)
		}
		leaks("the error", err.Error())
	})
}
