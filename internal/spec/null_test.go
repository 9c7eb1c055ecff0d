package spec

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDropNulls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, ``},
		{`{}`, `{}`},
		{`null`, ``},
		{" \n null\t", ``},
		{`{"a":1}`, `{"a":1}`},
		{`{"a":null}`, `{}`},
		{`{ "a" : null }`, `{}`},
		{`{"a":null,"b":1}`, `{"b":1}`},
		{`{"a":1,"b":null}`, `{"a":1}`},
		{`{"a":1 , "b":null , "c":2}`, `{"a":1 , "c":2}`},
		{`{"a":null,"b":null,"c":null}`, `{}`},
		{`{"a":null, "b":null, "c":3, "d":null}`, `{ "c":3}`},
		{`{"filters":{"group_ids":null}}`, `{"filters":{}}`},
		{`{"filters":null,"additional_data":null,"name":"chat_deactivated"}`, `{"name":"chat_deactivated"}`},
		{`{"a":[null,{"b":null,"c":[{"d":null}]}],"e":"null"}`, `{"a":[null,{"c":[{}]}],"e":"null"}`},
		{`[null]`, `[null]`},
		{`{"a\"null":null,"b":"x\"null"}`, `{"b":"x\"null"}`},
		{`{"a":1,"a":null}`, `{"a":1}`},
		{`{"n":1e400,"x":null}`, `{"n":1e400}`},
		{"{\"\xff\":null,\"s\":\"\xfe\"}", "{\"s\":\"\xfe\"}"},
		{`{"a":{"b":null}} {"c":null}`, `{"a":{}} {"c":null}`},
		// Not JSON: unchanged, for the decoder to refuse as it would have.
		{`{"a":null`, `{"a":null`},
		{`{"a":null,}`, `{"a":null,}`},
		{`null null`, `null null`},
		{`nul`, `nul`},
	} {
		if got := DropNulls([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("DropNulls(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	in := []byte(`{"a":null,"b":1}`)
	DropNulls(in)
	if string(in) != `{"a":null,"b":1}` {
		t.Errorf("DropNulls modified its input: %s", in)
	}
}

// TestDropNullsDeep checks that nesting costs no recursion: a body far deeper than any decoder
// that recurses would take.
func TestDropNullsDeep(t *testing.T) {
	const n = 200000
	in := strings.Repeat(`{"a":null,"b":`, n) + `1` + strings.Repeat(`}`, n)
	want := strings.Repeat(`{"b":`, n) + `1` + strings.Repeat(`}`, n)
	if got := DropNulls([]byte(in)); string(got) != want {
		t.Errorf("DropNulls of a body %d deep: wrong output of %d bytes", n, len(got))
	}
}

// FuzzDropNulls checks that DropNulls keeps JSON valid, leaves no null member, and changes
// nothing in a body without null.
func FuzzDropNulls(f *testing.F) {
	for _, s := range []string{`null`, `{"a":null}`, `{"a":[null,{"b":null}],"c":{"d":null,"e":1}}`, `{"x":1e400,"y":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := DropNulls(in)
		if !bytes.Contains(in, []byte("null")) && !bytes.Equal(in, out) {
			t.Fatalf("DropNulls(%q) = %q, changed a body without null", in, out)
		}
		if !json.Valid(in) {
			return
		}
		if len(bytes.TrimSpace(out)) == 0 {
			if string(bytes.TrimSpace(in)) != "null" {
				t.Fatalf("DropNulls(%q) = %q, empty", in, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("DropNulls(%q) = %q, not JSON", in, out)
		}
		d := json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		for stack := []any{v}; len(stack) > 0; {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch x := x.(type) {
			case map[string]any:
				for k, e := range x {
					if e == nil {
						t.Fatalf("DropNulls(%q) = %q, kept the null member %q", in, out, k)
					}
					stack = append(stack, e)
				}
			case []any:
				stack = append(stack, x...)
			}
		}
	})
}
