package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestRefusalsCarryLifecycleHeaders: once the upstream has answered with its Deprecation header,
// the gateway's own refusals (a rule broken, no credential, a body that does not decode) carry it
// too, over gRPC and REST, as
// every upstream answer does; before any answer from the region, there is none to send.
func TestRefusalsCarryLifecycleHeaders(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "get_agent")
	if got := v.rest(ownerA, a.Name, `{}`); got.status != http.StatusUnprocessableEntity || got.header.Get("Deprecation") != "" {
		t.Fatalf("a refusal before any upstream answer = %d with Deprecation %q, want 422 without", got.status, got.header.Get("Deprecation"))
	}
	if got := v.rest(ownerA, a.Name, `{"id":"owner-a@example.com"}`); got.status != http.StatusOK || got.header.Get("Deprecation") != emulator.DefaultDeprecation {
		t.Fatalf("an upstream answer = %d with Deprecation %q", got.status, got.header.Get("Deprecation"))
	}
	for _, tc := range []struct{ name, token, body string }{
		{"rule broken", ownerA, `{}`},
		{"no credential", "", `{"id":"owner-a@example.com"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := v.rest(tc.token, a.Name, tc.body); got.status < 400 || got.header.Get("Deprecation") != emulator.DefaultDeprecation {
				t.Errorf("REST refusal = %d with Deprecation %q, want %q", got.status, got.header.Get("Deprecation"), emulator.DefaultDeprecation)
			}
			_, header, err := v.rpc(context.Background(), tc.token, a, req(t, a, tc.body))
			if err == nil || len(header.Get("deprecation")) == 0 || header.Get("deprecation")[0] != emulator.DefaultDeprecation {
				t.Errorf("gRPC refusal = %v with deprecation %v, want %q", err, header.Get("deprecation"), emulator.DefaultDeprecation)
			}
		})
	}
	// Refused by the REST surface before the call reaches the service: a body that does not
	// decode.
	if got := v.rest(ownerA, a.Name, `{"id":`); got.status != http.StatusUnprocessableEntity || got.header.Get("Deprecation") != emulator.DefaultDeprecation {
		t.Errorf("REST refusal of a malformed body = %d with Deprecation %q, want 422 with %q", got.status, got.header.Get("Deprecation"), emulator.DefaultDeprecation)
	}
	// Another region has not answered yet: nothing to send for it.
	if got := v.rest(ownerF, a.Name, `{}`); got.header.Get("Deprecation") != "" {
		t.Errorf("a refusal for fra before any fra answer carries Deprecation %q", got.header.Get("Deprecation"))
	}
}
