package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
)

// An answer of the upstream may hold empty lists and maps, such as an agent's
// "notifications": []. proto3 cannot carry them: a decoded answer has no such field, and its JSON
// leaves the key out. EmptyPaths records where they were, and RestoreEmpties puts them back into
// the JSON of the decoded answer, so that the REST surface answers with the upstream's keys.

// EmptyPaths returns the places of the empty arrays and objects that are members of objects in
// the JSON text body, as JSON: a list of paths, each a kind ("[" or "{") followed by the keys and
// indexes that lead to it, such as [["[",0,"notifications"]]. It returns "" when there is none,
// or when body is not JSON. It reads body once, without recursion.
func EmptyPaths(body []byte) string {
	if !bytes.Contains(body, []byte("[]")) && !bytes.Contains(body, []byte("{}")) &&
		!bytes.Contains(body, []byte("[ ")) && !bytes.Contains(body, []byte("{ ")) &&
		!bytes.Contains(body, []byte("[\n")) && !bytes.Contains(body, []byte("{\n")) {
		return "" // the common case, cheaply: no empty container can be written without these
	}
	// level is an object or array being read: its place in its parent (at, a key or an index;
	// nil for the whole body) and, for its children, the member's key or the next index.
	type level struct {
		parent            *level
		at                any
		object, expectKey bool
		empty             bool
		key               string
		index             int
	}
	var (
		top   *level
		found [][]any
	)
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ""
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			if _, member := top.at.(string); top.empty && member {
				kind := "["
				if top.object {
					kind = "{"
				}
				var path []any
				for l := top; l.parent != nil; l = l.parent {
					path = append(path, l.at)
				}
				slices.Reverse(path)
				found = append(found, append([]any{kind}, path...))
			}
			top = top.parent
			continue
		}
		if top != nil && top.object && top.expectKey {
			top.key, top.expectKey = tok.(string), false
			continue
		}
		// A value: a member's, an element's, or the whole body.
		var at any
		if top != nil {
			top.empty = false
			if top.object {
				at, top.expectKey = top.key, true
			} else {
				at = top.index
				top.index++
			}
		}
		if tok == json.Delim('{') || tok == json.Delim('[') {
			object := tok == json.Delim('{')
			top = &level{parent: top, at: at, object: object, expectKey: object, empty: true}
		}
	}
	if len(found) == 0 {
		return ""
	}
	b, err := json.Marshal(found)
	if err != nil {
		return ""
	}
	return string(b)
}

// RestoreEmpties returns the JSON text body with the empty arrays and objects of paths (as
// EmptyPaths gives them) put back where body lacks their key and has their parent. What body
// already has is left as it is.
func RestoreEmpties(body []byte, paths string) ([]byte, error) {
	var places [][]any
	d := json.NewDecoder(bytes.NewReader([]byte(paths)))
	d.UseNumber()
	if err := d.Decode(&places); err != nil {
		return nil, err
	}
	var doc any
	d = json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, err
	}
	changed := false
	for _, p := range places {
		if len(p) < 2 {
			return nil, errors.New("wire: an empty's path is too short")
		}
		kind, _ := p[0].(string)
		key, ok := p[len(p)-1].(string)
		if !ok {
			return nil, errors.New("wire: an empty's path does not end in a key")
		}
		parent, ok := walk(doc, p[1:len(p)-1]).(map[string]any)
		if !ok {
			continue
		}
		if _, has := parent[key]; has {
			continue
		}
		if kind == "{" {
			parent[key] = map[string]any{}
		} else {
			parent[key] = []any{}
		}
		changed = true
	}
	if !changed {
		return body, nil
	}
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	if err := e.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// walk returns what path (keys and json.Number indexes) leads to in doc, or nil.
func walk(doc any, path []any) any {
	for _, step := range path {
		switch s := step.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				return nil
			}
			doc = m[s]
		case json.Number:
			i, err := s.Int64()
			a, ok := doc.([]any)
			if err != nil || !ok || i < 0 || i >= int64(len(a)) {
				return nil
			}
			doc = a[i]
		default:
			return nil
		}
	}
	return doc
}
