package wire

import "fmt"

// DefaultMaxDepth is how deeply a request's JSON may nest objects and arrays by default
// (GATEWAY_MAX_JSON_DEPTH). The deepest documented request, a property value that is itself an
// object, needs a handful of levels.
const DefaultMaxDepth = 64

// DepthError reports JSON that nests deeper than a limit.
type DepthError struct {
	// Field is the top-level key under which the limit was passed, or "" when the whole body
	// is an array.
	Field string
	// Max is the limit.
	Max int
}

func (e *DepthError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("the request nests objects and arrays deeper than %d levels", e.Max)
	}
	return fmt.Sprintf("%s: nests objects and arrays deeper than %d levels", e.Field, e.Max)
}

// CheckDepth returns a *DepthError if the JSON text data nests objects and arrays deeper than
// limit levels (the body's own braces are level 1), else nil. It reads data once without
// recursion and allocates nothing but the error, so it is safe to run on any input before a
// decoder that recurses. It does not otherwise validate data: what is not JSON is left to the
// decoder to refuse.
func CheckDepth(data []byte, limit int) error {
	var (
		depth       int
		topIsObject bool   // the body is an object, whose keys name the fields
		expectKey   bool   // the next string is a key of the body's object
		field       string // the body's key being read
	)
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			depth++
			if depth > limit {
				return &DepthError{Field: field, Max: limit}
			}
			if depth == 1 {
				topIsObject = c == '{'
				expectKey = topIsObject
			}
		case '}', ']':
			depth = max(depth-1, 0)
		case ',':
			expectKey = depth == 1 && topIsObject
		case '"':
			start := i + 1
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++ // the escaped character, which may be a quote
				}
			}
			if expectKey {
				field = string(data[start:min(i, len(data))])
				expectKey = false
			}
		}
	}
	return nil
}
