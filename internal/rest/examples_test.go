package rest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/livechat-gateway/gateway/internal/action"
)

// The JSON examples of the upstream's documentation are the contract's test cases. They are kept
// in testdata/spec as <action>.request.json and <action>.response.json, because the document is
// not part of the repository. When $LIVECHAT_SPEC names the document's text,
// TestSpecExamplesMatchDocument extracts them again and compares, and -update rewrites the files
// from it:
//
//	LIVECHAT_SPEC=<the document, as text> go test ./internal/rest -run TestSpecExamplesMatchDocument -update

var update = flag.Bool("update", false, "rewrite testdata/spec from the upstream documentation")

const examplesDir = "testdata/spec"

// example is one JSON body of the documentation.
type example struct {
	action string
	kind   string // "request" or "response"
	body   []byte
}

func (e example) file() string { return e.action + "." + e.kind + ".json" }

// methodURL is the line of the documentation that names the action a section describes.
var methodURL = regexp.MustCompile(`^Method URL\S*/v3\.2/configuration/action/([a-z_]+)$`)

// extractExamples returns the JSON bodies of the documentation: the body of every request's curl
// -d argument, and every example under a "Response" heading. Lines that are only // comments are
// dropped, since the register_properties example carries some and JSON has none.
func extractExamples(doc string) ([]example, error) {
	lines := strings.Split(doc, "\n")
	var out []example
	current := ""
	add := func(kind string, body []string) error {
		if current == "" {
			return fmt.Errorf("a %s example before any action", kind)
		}
		var kept []string
		for _, l := range body {
			if !strings.HasPrefix(strings.TrimSpace(l), "//") {
				kept = append(kept, l)
			}
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(strings.Join(kept, "\n")), "", "  "); err != nil {
			return fmt.Errorf("%s %s example: %w", current, kind, err)
		}
		buf.WriteByte('\n')
		out = append(out, example{current, kind, buf.Bytes()})
		return nil
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := methodURL.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if _, body, ok := strings.Cut(line, "-d '"); ok {
			// The body runs up to the quote that closes the shell argument.
			var block []string
			for ; ; body = lines[i] {
				if end, ok := strings.CutSuffix(strings.TrimRight(body, " "), "'"); ok {
					block = append(block, end)
					break
				}
				block = append(block, body)
				if i++; i == len(lines) {
					return nil, fmt.Errorf("%s: unterminated request body", current)
				}
			}
			if err := add("request", block); err != nil {
				return nil, err
			}
			continue
		}
		if line == "Response" && i+2 < len(lines) && lines[i+1] == "Copied!" {
			// The example runs up to the next blank line.
			var block []string
			for i += 2; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				block = append(block, lines[i])
			}
			if err := add("response", block); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// responseExamples lists the actions whose documentation shows an answer. The others are
// documented as having no payload.
var responseExamples = []string{
	"create_agent", "get_agent", "list_agents",
	"create_bot", "list_bots", "get_bot",
	"create_group", "list_groups", "get_group",
	"list_registered_properties", "update_license_properties", "list_license_properties",
	"update_group_properties", "list_group_properties",
	"register_webhook", "list_registered_webhooks",
}

// loadExamples reads testdata/spec and checks that it holds a request example for every action
// and the documented response examples.
func loadExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	var reqs, resps []string
	for _, a := range action.All() {
		for _, kind := range []string{"request", "response"} {
			e := example{action: a.Name, kind: kind}
			body, err := os.ReadFile(filepath.Join(examplesDir, e.file()))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			e.body = body
			out = append(out, e)
			if kind == "request" {
				reqs = append(reqs, a.Name)
			} else {
				resps = append(resps, a.Name)
			}
		}
	}
	if len(reqs) != len(action.All()) {
		t.Errorf("%d request examples, want one for each of the %d actions", len(reqs), len(action.All()))
	}
	if !slices.Equal(resps, responseExamples) {
		t.Errorf("response examples for %q, want %q", resps, responseExamples)
	}
	return out
}

// TestSpecExamplesMatchDocument checks testdata/spec against the documentation, or rewrites it
// with -update. Without $LIVECHAT_SPEC it checks and rewrites nothing, and says so: CI has no
// copy of the document and tests the committed files. A $LIVECHAT_SPEC that cannot be read fails.
func TestSpecExamplesMatchDocument(t *testing.T) {
	path := os.Getenv("LIVECHAT_SPEC")
	if path == "" {
		if *update {
			t.Skip("-update rewrites nothing: LIVECHAT_SPEC does not name the upstream documentation's text")
		}
		t.Skip("LIVECHAT_SPEC does not name the upstream documentation's text; testdata/spec is used as committed")
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("LIVECHAT_SPEC: %v", err)
	}
	examples, err := extractExamples(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.RemoveAll(examplesDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(examplesDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, e := range examples {
		if _, ok := action.ByName(e.action); !ok {
			t.Errorf("the documentation has an example for %q, which is no action", e.action)
		}
		if seen[e.file()] {
			t.Errorf("the documentation has two %s examples for %s", e.kind, e.action)
		}
		seen[e.file()] = true
		path := filepath.Join(examplesDir, e.file())
		if *update {
			if err := os.WriteFile(path, e.body, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run with -update)", path, err)
		} else if !bytes.Equal(got, e.body) {
			t.Errorf("%s differs from the documentation (run with -update)", path)
		}
	}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s is not in the documentation", f)
		}
	}
	loadExamples(t)
}
