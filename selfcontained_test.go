package gateway_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The repository explains itself: no document, comment or test may lean on a file outside it,
// which a reader or CI would not have. TestSelfContained scans every tracked text file for the
// three ways that has happened: a relative path climbing out of the repository, an absolute path
// into someone's machine, and the names of documents kept beside the repository.

var (
	// urlPattern matches URLs, which point outside the repository on purpose; they are removed
	// before the scan, paths inside them included.
	urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://\S*`)
	// relativePattern matches a path with a parent step in it, such as ../../README.md.
	relativePattern = regexp.MustCompile(`[A-Za-z0-9_.\-/]*\.\./[A-Za-z0-9_.\-/]*`)
	// joinPattern matches parent steps given to filepath.Join one by one: "..", "..", ...
	joinPattern = regexp.MustCompile(`(?:"\.\."\s*,\s*)+`)
	// absolutePattern matches an absolute path under the directories that hold people's work
	// on a machine, and a home directory's ~/. System paths a program reads at run time (the
	// proc file system, certificates) are not references to anyone's files, nor is the path of
	// a URL written in pieces ("unix://" + auth + "@/tmp/redis.sock").
	absolutePattern = regexp.MustCompile("(?:^|[^A-Za-z0-9_.\\-/~@])(/(?:work|home|Users|root|tmp|mnt|opt|srv)/[^\\s\"'`),]*|~/[^\\s\"'`),]*)")
	// namePattern matches the names of documents that live beside the repository, not in it.
	namePattern = regexp.MustCompile(`\b(?:DESIGN|STYLE)\.md\b`)
)

// outsideReferences returns what line, a line of the file at file (slash-separated, from the
// repository's root), names outside the repository.
func outsideReferences(file, line string) []string {
	line = urlPattern.ReplaceAllString(line, "")
	dir := path.Dir(file)
	var found []string
	leaves := func(rel string) bool {
		p := path.Join(dir, rel)
		return p == ".." || strings.HasPrefix(p, "../")
	}
	for _, m := range relativePattern.FindAllString(line, -1) {
		if leaves(m) {
			found = append(found, m)
		}
	}
	for _, m := range joinPattern.FindAllString(line, -1) {
		if rel := strings.Repeat("../", strings.Count(m, `".."`)); leaves(rel) {
			found = append(found, strings.TrimSpace(m))
		}
	}
	for _, m := range absolutePattern.FindAllStringSubmatch(line, -1) {
		found = append(found, m[1])
	}
	found = append(found, namePattern.FindAllString(line, -1)...)
	return found
}

// TestOutsideReferences checks the scanner itself on the cases it must tell apart.
func TestOutsideReferences(t *testing.T) {
	for _, tc := range []struct {
		file, line string
		outside    bool
	}{
		{"internal/server/config_test.go", `os.ReadFile("../../README.md")`, false},
		{"internal/server/config_test.go", `os.ReadFile("../../../README.md")`, true},
		{"internal/rest/examples_test.go", `filepath.Join("..", "..", "spec")`, false},
		{"internal/rest/examples_test.go", `filepath.Join("..", "..", "..", "spec")`, true},
		{"deploy/kubernetes/README.md", `see [the README](../../README.md)`, false},
		{"docs/design.md", `see [the README](../../README.md)`, true},
		{"docs/design.md", `[errors](errors.md), [cache](cache.md)`, false},
		{"internal/service/service_test.go", `MDRegion, "dal/../x"`, false},
		{"internal/cache/url.go", `//	redis-sentinel://host1,host2,.../master-name`, false},
		{"internal/cache/url_test.go", `{"unix://:" + password + "@/tmp/redis.sock", "x"}`, false},
		{"README.md", `[AIP-134](https://google.aip.dev/134)`, false},
		{"README.md", "the text is at `/work/spec.txt`", true},
		{"README.md", "copy it to ~/spec.txt", true},
		{"README.md", "`GET /emulator/stats`, /v3.2/configuration/action/list_groups", false},
		{"README.md", "as " + "DESIGN" + ".md says", true},
		{"README.md", "the project's " + "STYLE" + ".md", true},
	} {
		if got := outsideReferences(tc.file, tc.line); (len(got) > 0) != tc.outside {
			t.Errorf("%s: %q: found %q, want outside = %v", tc.file, tc.line, got, tc.outside)
		}
	}
}

// TestSelfContained scans every tracked text file but generated code and installed packages for
// references outside the repository.
func TestSelfContained(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	var exitErr *exec.ExitError
	if errors.Is(err, exec.ErrNotFound) || errors.As(err, &exitErr) {
		t.Skipf("no git work tree to list the tracked files of: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 100 {
		t.Fatalf("git ls-files listed %d files; is this the repository's root?", len(files))
	}
	for _, file := range files {
		if strings.HasPrefix(file, "gen/") || strings.Contains("/"+file, "/node_modules/") || strings.HasSuffix(file, "go.sum") {
			continue
		}
		if file == "selfcontained_test.go" {
			continue // TestOutsideReferences's cases are the very references the scan refuses
		}
		b, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		} else if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		for i, line := range strings.Split(string(b), "\n") {
			if refs := outsideReferences(file, line); len(refs) > 0 {
				t.Errorf("%s:%d names %q, outside the repository: %s", file, i+1, refs, strings.TrimSpace(line))
			}
		}
	}
}
