package wire

import (
	"testing"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

func TestEmptyPaths(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"id":"a","name":"A"}`, ``},
		{`{"notifications":[],"work_scheduler":{},"x":[1]}`, `[["[","notifications"],["{","work_scheduler"]]`},
		{`[{"id":"a","groups":[]},{"id":"b","groups":[{"id":1,"priority":"normal"}],"emails":[ ]}]`, `[["[",0,"groups"],["[",1,"emails"]]`},
		{`{"bot_agents":[]}`, `[["[","bot_agents"]]`},
		{`{"a":{"b":{"c":{}}}}`, `[["{","a","b","c"]]`},
		{`[[],{}]`, ``},    // elements, not members: the answer's own JSON writes them
		{`[]`, ``},         // the whole body
		{`{"a":[[]]}`, ``}, // an element again
		{`{"a":"[]{}"}`, ``},
		{`{"a":[`, ``}, // not JSON
	} {
		if got := EmptyPaths([]byte(tc.body)); got != tc.want {
			t.Errorf("EmptyPaths(%s) = %s, want %s", tc.body, got, tc.want)
		}
	}
}

func TestRestoreEmpties(t *testing.T) {
	for _, tc := range []struct{ upstream, decoded, want string }{
		{`{"id":"a","notifications":[],"work_scheduler":{}}`, `{"id":"a","work_scheduler":{}}`, `{"id":"a","notifications":[],"work_scheduler":{}}`},
		{`[{"id":"a","groups":[]},{"id":"b","emails":[]}]`, `[{"id":"a"},{"id":"b"}]`, `[{"id":"a","groups":[]},{"id":"b","emails":[]}]`},
		{`{"bot_agents":[]}`, `{}`, `{"bot_agents":[]}`},
		{`{"a":{"b":[]}}`, `{}`, `{}`},         // the parent is gone: nothing to put it in
		{`{"a":[]}`, `{"a":[1]}`, `{"a":[1]}`}, // present: left as it is
		{`{"a":[],"n":12345678901234567890,"s":"<&>"}`, `{"n":12345678901234567890,"s":"<&>"}`, `{"a":[],"n":12345678901234567890,"s":"<&>"}`},
	} {
		paths := EmptyPaths([]byte(tc.upstream))
		got, err := RestoreEmpties([]byte(tc.decoded), paths)
		if err != nil {
			t.Errorf("RestoreEmpties(%s, %s): %v", tc.decoded, paths, err)
			continue
		}
		if !testutil.JSONEqual(t, string(got), tc.want) {
			t.Errorf("RestoreEmpties(%s, %s) = %s, want %s", tc.decoded, paths, got, tc.want)
		}
		if tc.want == `{"a":[],"n":12345678901234567890,"s":"<&>"}` && string(got) != `{"a":[],"n":12345678901234567890,"s":"<&>"}` {
			t.Errorf("numbers or characters changed: %s", got)
		}
	}
}
