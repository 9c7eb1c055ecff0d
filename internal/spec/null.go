package spec

import (
	"bytes"
	"encoding/json"
)

// DropNulls returns the JSON text data with null meaning what it means to the upstream and its
// official SDK: "not given". A body that is only null (surrounding whitespace allowed) becomes
// empty, which is an empty request, and every object member whose value is null, at any depth,
// is removed, as if the key had not been sent. A null inside an array is an element, not a key
// left out, and is kept, for the rules to refuse.
//
// Everything else is kept byte for byte: key order, duplicate keys, number spelling, escapes and
// invalid UTF-8 are left to the decoder that follows, which reports them as it would have. Text
// that is not JSON is returned unchanged for the same reason, and so is what follows the first
// JSON value (the first value's own nulls are dropped).
//
// The walk reads tokens with an explicit stack, without recursion, so that its cost is bounded by
// the size of data however deeply it nests. data is not modified; when it holds no null it is
// returned as is.
func DropNulls(data []byte) []byte {
	if !bytes.Contains(data, []byte("null")) {
		return data
	}
	if trimmed := bytes.TrimSpace(data); string(trimmed) == "null" {
		return trimmed[:0]
	}
	var (
		stack []nullScope
		out   []byte
		done  int // data[:done] is written to out or dropped
	)
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber() // a number too large for a float64 is the decoder's to refuse, not an error here
	for {
		start := int(d.InputOffset())
		tok, err := d.Token()
		if err != nil {
			return data // not JSON, or it ended early: left to the decoder
		}
		end := int(d.InputOffset())
		var top *nullScope
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		delim, isDelim := tok.(json.Delim)
		switch {
		case top != nil && top.object && top.expectKey && !isDelim:
			// A key: its member begins where the previous token ended, before any comma.
			top.expectKey, top.memberStart = false, start
			continue
		case isDelim && (delim == '{' || delim == '['):
			stack = append(stack, nullScope{object: delim == '{', expectKey: delim == '{'})
			continue
		case isDelim: // '}' or ']'
			stack = stack[:len(stack)-1]
		case tok == nil && top != nil && top.object:
			// Drop the member with the comma before it, or, when no member of the object was
			// kept before it, with the comma after it.
			cut, cutEnd := max(top.memberStart, done), end
			if top.kept == 0 {
				cutEnd = skipSpace(data, cutEnd)
				if cutEnd < len(data) && data[cutEnd] == ',' {
					cutEnd++
				}
			}
			out = append(out, data[done:cut]...)
			done = cutEnd
			top.expectKey = true
			continue
		}
		// A value ended: the first value of data, an array's element, or an object's member.
		if len(stack) == 0 {
			break
		}
		if top := &stack[len(stack)-1]; top.object {
			top.expectKey = true
			top.kept++
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[done:]...)
}

// nullScope is an object or array that DropNulls is inside.
type nullScope struct {
	object bool
	// The rest is an object's: whether the next token is a key, how many members were kept so
	// far, and where the member being read begins.
	expectKey   bool
	kept        int
	memberStart int
}

// skipSpace returns the index of the first byte of data at or after i that is not JSON
// whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
