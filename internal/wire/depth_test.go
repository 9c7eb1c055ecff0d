package wire

import (
	"errors"
	"strings"
	"testing"
)

// nested returns a JSON value that nests n objects, each under key, around 1.
func nested(key string, n int) string {
	return strings.Repeat(`{"`+key+`":`, n) + "1" + strings.Repeat("}", n)
}

func TestCheckDepth(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		limit      int
		field      string // "-": within the limit
	}{
		{"flat", `{"id":"a"}`, 1, "-"},
		{"at the limit", nested("a", 4), 4, "-"},
		{"past the limit", nested("a", 5), 4, "a"},
		{"arrays count", `{"ids":[[[["x"]]]]}`, 4, "ids"},
		{"the field is the body's key", `{"id":"{[[[[","value":` + nested("k", 10) + `}`, 4, "value"},
		{"brackets in strings do not count", `{"id":"[[[[[[{{{{{{"}`, 2, "-"},
		{"escaped quotes do not end strings", `{"id":"\"[[[[[[","x":1}`, 2, "-"},
		{"a top-level array has no field", `[[[[[1]]]]]`, 4, ""},
		{"deep after closing", `{"a":{"b":{}},"c":` + nested("d", 4) + `}`, 4, "c"},
		{"unterminated string", `{"a":"[[[[[[`, 2, "-"},
		{"not JSON", `]]]]}}}{`, 2, "-"},
		{"5,000 levels", nested("value", 5000), 64, "value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDepth([]byte(tc.body), tc.limit)
			if tc.field == "-" {
				if err != nil {
					t.Fatalf("CheckDepth = %v, want nil", err)
				}
				return
			}
			var de *DepthError
			if !errors.As(err, &de) || de.Field != tc.field || de.Max != tc.limit {
				t.Fatalf("CheckDepth = %#v, want a DepthError at %q, limit %d", err, tc.field, tc.limit)
			}
			if !strings.Contains(err.Error(), "deeper than") {
				t.Errorf("message %q does not say what is wrong", err)
			}
		})
	}
}

// FuzzCheckDepth checks that CheckDepth never panics and agrees with a plain count of the
// brackets outside strings.
func FuzzCheckDepth(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":2}]}`, nested("x", 70), `"\"{{{"`, `{"a":"\\"}`} {
		f.Add([]byte(s), 4)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		if limit < 1 || limit > 100 {
			return
		}
		err := CheckDepth(data, limit)
		deepest, depth, inString := 0, 0, false
		for i := 0; i < len(data); i++ {
			switch c := data[i]; {
			case inString && c == '\\':
				i++
			case c == '"':
				inString = !inString
			case inString:
			case c == '{' || c == '[':
				depth++
				deepest = max(deepest, depth)
			case c == '}' || c == ']':
				depth = max(depth-1, 0)
			}
		}
		if (err != nil) != (deepest > limit) {
			t.Fatalf("CheckDepth(%q, %d) = %v, but the deepest level is %d", data, limit, err, deepest)
		}
	})
}
