package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestValidAndOr(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123": true, "a:b/c+d=e_f.g": true, "": false, "two words": false, `q"uote`: false,
		strings.Repeat("x", 128): true, strings.Repeat("x", 129): false, "é": false, "a\nb": false,
	} {
		if got := Valid(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
	if Or("kept") != "kept" {
		t.Error("Or dropped a sane id")
	}
	if a, b := Or("no good"), Or(""); len(a) != 32 || a == b {
		t.Errorf("Or of bad ids = %q, %q; want two new 32-character ids", a, b)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, nil))).With("k", "v")
	log.InfoContext(With(context.Background(), "id-1"), "with")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"request_id":"id-1"`) || !strings.Contains(lines[0], `"k":"v"`) || strings.Contains(lines[1], "request_id") {
		t.Errorf("log lines:\n%s", buf.String())
	}
}
