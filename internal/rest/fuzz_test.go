package rest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// addSeeds adds the documentation's examples of one kind as seeds, each for its action.
func addSeeds(f *testing.F, kind string) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*."+kind+".json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no %s examples in %s: %v", kind, examplesDir, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), "."+kind+".json")
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, body)
	}
	f.Add("update_agent", []byte(`{"id":"a","notifications":[],"work_scheduler":{}}`))
	f.Add("update_bot", []byte(`{"id":"b","webhooks":{"actions":[]},"update_mask":"webhooks.url"}`))
}

// fuzzAction picks an action by name, or by the name's length for names that are none.
func fuzzAction(name string) *action.Action {
	if a, ok := action.ByName(name); ok {
		return a
	}
	all := action.All()
	return all[len(name)%len(all)]
}

// FuzzRequestDecoding feeds any body to the REST decoder of any action. Nothing may panic, and a
// body the decoder takes must go upstream as JSON that reads back to the same upstream body.
func FuzzRequestDecoding(f *testing.F) {
	addSeeds(f, "request")
	m := rest.NewMarshaler()
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		a := fuzzAction(name)
		if a.Name == "register_properties" {
			// Its body is the map field, which takes the decoder's non-message path.
			var props map[string]*configv1.PropertyDefinition
			if m.Unmarshal(body, &props) == nil {
				up, err := wire.EncodeRequest(a, &configv1.RegisterPropertiesRequest{Properties: props})
				if err != nil || !json.Valid(up) {
					t.Fatalf("register_properties %q: accepted but encoded as %q (%v)", body, up, err)
				}
			}
		}
		req := a.NewRequest()
		if err := m.Unmarshal(body, req); err != nil {
			return
		}
		up, err := wire.EncodeRequest(a, req)
		if err != nil {
			return // an update_mask naming no field: refused, as it should be
		}
		if !json.Valid(up) {
			t.Fatalf("%s %q: upstream body %q is not JSON", a.Name, body, up)
		}
		if a.Body != "" {
			return // the body is a field: covered above
		}
		again := a.NewRequest()
		if err := m.Unmarshal(up, again); err != nil {
			t.Fatalf("%s %q: upstream body %s does not decode: %v", a.Name, body, up, err)
		}
		up2, err := wire.EncodeRequest(a, again)
		if err != nil {
			t.Fatalf("%s: re-encoding %s: %v", a.Name, up, err)
		}
		if !testutil.JSONEqual(t, string(up2), string(up)) {
			t.Fatalf("%s %q: upstream body %s re-encodes as %s", a.Name, body, up, up2)
		}
	})
}

// FuzzResponseDecoding feeds any answer to the upstream decoder of any action. Nothing may panic,
// and an answer the decoder takes must be written as JSON by the REST marshaler.
func FuzzResponseDecoding(f *testing.F) {
	addSeeds(f, "response")
	m := rest.NewMarshaler()
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		a := fuzzAction(name)
		resp := a.NewResponse()
		if err := wire.DecodeResponse(a, body, resp, wire.LenientUnmarshalOptions()); err != nil {
			return
		}
		if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && !json.Valid(trimmed) {
			t.Fatalf("%s: took %q, which is not JSON", a.Name, body)
		}
		out, err := m.Marshal(resp)
		if err != nil || !json.Valid(out) {
			t.Fatalf("%s %q: decoded, but written as %q (%v)", a.Name, body, out, err)
		}
	})
}
