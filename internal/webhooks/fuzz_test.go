package webhooks

import (
	"net/http/httptest"
	"testing"
)

// FuzzDelivery: parse, the receiver's decoder, never panics on any body, and every delivery it
// accepts becomes a stream message: an event acknowledged 200 can always be sent to subscribers.
func FuzzDelivery(f *testing.F) {
	for _, seed := range []string{
		`{"webhook_id":"wh1","secret_key":"s","action":"incoming_chat","license_id":"A","payload":{"chat":{"id":"C"}}}`,
		`{"webhook_id":"wh1","secret_key":"s","action":"incoming_chat","license_id":12345,"payload":{"n":1e400}}`,
		`{"webhook_id":"wh1","secret_key":"s","action":"incoming_chat","license_id":1,"payload":{"a":1,"a":2}}`,
		"{\"webhook_id\":\"wh1\",\"secret_key\":\"s\",\"action\":\"a\",\"license_id\":1,\"payload\":{\"t\":\"\xff\"}}",
		`{"webhook_id":"wh1","secret_key":"s","action":"a","license_id":1,"payload":{},"additional_data":{"chat_properties":{}}}`,
		`{"webhook_id":null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, _, msg := parse(body)
		if msg != "" {
			return
		}
		ev.ID = "1-0"
		if _, err := message(&ev); err != nil {
			t.Fatalf("accepted %q, but it cannot be streamed: %v", body, err)
		}
	})
}

// FuzzSubscribeQuery: a server-sent events query and Last-Event-ID never panic the request's
// decoding and checks, and what passes the checks names a stream.
func FuzzSubscribeQuery(f *testing.F) {
	for _, seed := range [][2]string{
		{"license_id=A&actions=incoming_chat,chat_deactivated&after=1-0", ""},
		{"license_id=A&webhook_ids=a&webhook_ids=b", "17-3"},
		{"license_id=%7BA%7D", ""}, {"since=1", ""}, {"after=0&license_id=A", "x"}, {"%zz", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, query, lastEventID string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		if lastEventID != "" {
			r.Header["Last-Event-Id"] = []string{lastEventID}
		}
		req, err := sseRequest(r)
		if err != nil {
			return
		}
		if checkRequest(req) == nil && !ValidLicense(req.GetLicenseId()) {
			t.Fatalf("query %q passed with license %q", query, req.GetLicenseId())
		}
	})
}
