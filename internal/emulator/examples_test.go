package emulator

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

// mapPaths names, per action, the objects of the documented answer that are maps, whose keys are
// data (namespaces, property names, locations, agent ids) rather than fields. "" is the answer
// itself, "*" any key of a map.
var mapPaths = map[string][]string{
	"list_registered_properties": {"", "*", "*.*.locations", "*.*.locations.*.access"},
	"list_license_properties":    {"", "*"},
	"list_group_properties":      {"", "*"},
	"get_group":                  {"agent_priorities"},
}

// TestSpecExamples sends every request example of the spec, as it stands, and checks that the
// answer has the documented shape: every field of the documented answer, with the same JSON type
// (values may differ), or {} where the spec documents no payload. The one preparation is
// testutil.SpecWorld, which creates the groups, agents, bots and webhook the examples name.
func TestSpecExamples(t *testing.T) {
	sorted := slices.Sorted(slices.Values(testutil.SpecExampleOrder))
	if !slices.Equal(sorted, Actions()) {
		t.Fatalf("SpecExampleOrder = %v, want every action once", sorted)
	}
	cfg, err := ParseConfig(testutil.SpecWorld(t))
	if err != nil {
		t.Fatal(err)
	}
	v := newEnv(t, WithConfig(cfg))
	for _, name := range testutil.SpecExampleOrder {
		req, ok := testutil.SpecExample(t, name, "request")
		if !ok {
			t.Fatalf("%s: no request example", name)
		}
		r := v.call(testutil.SpecToken, name, string(req))
		if r.status != 200 {
			t.Errorf("%s(%s) = %d %s, want 200", name, req, r.status, r.body)
			continue
		}
		got := r.json(t)
		want := any(map[string]any{})
		wantBody, ok := testutil.SpecExample(t, name, "response")
		if ok {
			want = decodeJSON(t, wantBody)
		}
		maps := map[string]bool{}
		for _, p := range mapPaths[name] {
			maps[p] = true
		}
		if diffs := shapeDiff("", want, got, maps); len(diffs) > 0 {
			t.Errorf("%s(%s) = %s\ndoes not have the documented shape %s:\n%v", name, req, r.body, wantBody, diffs)
		}
	}
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	return result{body: b}.json(t)
}

// shapeDiff lists where got lacks the shape of want: a field of want missing from got, or a value
// of another JSON type. An element of a want array must match some element of got; so must a
// value of a want map (an object whose path is in maps).
func shapeDiff(path string, want, got any, maps map[string]bool) []string {
	mismatch := func(what string) []string {
		return []string{path + ": " + what}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return mismatch("want an object")
		}
		var diffs []string
		for _, k := range sortedKeys(w) {
			if maps[path] {
				if !slices.ContainsFunc(mapValues(g), func(gv any) bool {
					return shapeDiff(joinPath(path, "*"), w[k], gv, maps) == nil
				}) {
					diffs = append(diffs, path+": no value has the shape of "+k+"'s")
				}
				continue
			}
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, joinPath(path, k)+": missing")
				continue
			}
			diffs = append(diffs, shapeDiff(joinPath(path, k), w[k], gv, maps)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return mismatch("want an array")
		}
		for _, we := range w {
			if !slices.ContainsFunc(g, func(ge any) bool { return shapeDiff(path+"[]", we, ge, maps) == nil }) {
				return mismatch("no element has the shape of " + compact(we))
			}
		}
		return nil
	case string:
		if _, ok := got.(string); !ok {
			return mismatch("want a string")
		}
	case json.Number:
		if _, ok := got.(json.Number); !ok {
			return mismatch("want a number")
		}
	case bool:
		if _, ok := got.(bool); !ok {
			return mismatch("want a boolean")
		}
	}
	return nil
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestShapeDiff checks the shape comparison itself, so that TestSpecExamples cannot pass by
// comparing nothing.
func TestShapeDiff(t *testing.T) {
	j := func(s string) any { return decodeJSON(t, []byte(s)) }
	for _, tc := range []struct {
		want, got string
		maps      []string
		ok        bool
	}{
		{`{"a":1}`, `{"a":2,"b":3}`, nil, true},
		{`{"a":1}`, `{"b":1}`, nil, false},
		{`{"a":1}`, `{"a":"1"}`, nil, false},
		{`[{"a":1}]`, `[{"b":1},{"a":1}]`, nil, true},
		{`[{"a":1}]`, `[]`, nil, false},
		{`{"x":{"a":true}}`, `{"y":{"a":false}}`, []string{""}, true},
		{`{"x":{"a":true}}`, `{"y":{"b":false}}`, []string{""}, false},
		{`{"x":{"a":true}}`, `{}`, []string{""}, false},
	} {
		maps := map[string]bool{}
		for _, p := range tc.maps {
			maps[p] = true
		}
		if d := shapeDiff("", j(tc.want), j(tc.got), maps); (d == nil) != tc.ok {
			t.Errorf("shapeDiff(%s, %s, %v) = %v, want ok=%v", tc.want, tc.got, tc.maps, d, tc.ok)
		}
	}
}

// joinPath returns the path of key k inside path.
func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
