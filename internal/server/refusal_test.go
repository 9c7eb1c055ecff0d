package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestRefusalsInUpstreamWords sends, over REST, every malformed body of every action (see
// testutil.MalformedBodies: not JSON, not an object, unknown and repeated keys, each field with a
// value of each JSON type, at every depth) and checks each refusal (issue 11, item 4 and
// acceptance 4): the gateway's own is 422 validation, a body that does not decode is refused
// with the field's snake_case path first, and no error body holds the decoder's words (proto:,
// a line and column) or a lowerCamel field name. The bodies that do decode meet the spec's rules,
// and what breaks them is refused the same way; the rest reach the emulator.
func TestRefusalsInUpstreamWords(t *testing.T) {
	v := newEnv(t)
	refused, undecodable := 0, 0
	for _, a := range action.All() {
		for _, m := range testutil.MalformedBodies(a) {
			before := v.calls(a.Name)
			got := v.rest(ownerA, a.Name, m.Body)
			if got.status == http.StatusOK {
				continue
			}
			var e struct {
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal([]byte(got.body), &e); err != nil || e.Error.Type == "" || e.Error.Message == "" {
				t.Errorf("%s %s = %d %s, not the upstream's error body", a.Name, m.Body, got.status, got.body)
				continue
			}
			if leak := testutil.LeakInRefusal(got.body); leak != "" {
				t.Errorf("%s %s = %d %s, which holds %q", a.Name, m.Body, got.status, got.body, leak)
			}
			if v.calls(a.Name) != before {
				continue // the emulator's refusal, passed on
			}
			refused++
			if got.status != http.StatusUnprocessableEntity || e.Error.Type != "validation" {
				t.Errorf("%s %s = %d %s, want 422 validation", a.Name, m.Body, got.status, got.body)
			}
			// A body that REST does not decode is refused with the decoding's explanation, which
			// names the broken field first.
			req := a.NewRequest()
			var err error
			if a.Body == "" {
				err = restUnmarshal(m.Body, req)
			} else {
				fd := req.ProtoReflect().Descriptor().Fields().ByName(a.Body)
				err = restUnmarshal(`{"`+string(fd.Name())+`":`+m.Body+`}`, req)
			}
			if err == nil {
				continue // a rule of the spec's
			}
			undecodable++
			if m.Path != "" && !strings.HasPrefix(e.Error.Message, m.Path) {
				t.Errorf("%s %s = %s, want a message about %s", a.Name, m.Body, got.body, m.Path)
			}
		}
	}
	if refused < 1000 || undecodable < 1000 {
		t.Errorf("the gateway refused %d bodies, %d of them undecodable; want many more", refused, undecodable)
	}
}
