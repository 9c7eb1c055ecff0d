package rest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// This file keeps docs/errors.md, and README.md's short error table, equal to the code: a mapping
// changed in internal/service or here without the documents fails below.

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	httpStatus = regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)
)

// markdownTable returns the rows of the table in doc whose header's first cell is first, each
// row as its trimmed cells.
func markdownTable(t *testing.T, doc, first string) [][]string {
	t.Helper()
	var rows [][]string
	in := false
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in && cells[0] == first:
			in = true
		case in && strings.HasPrefix(cells[0], "---"):
		case in:
			rows = append(rows, cells)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("no table headed %q", first)
	}
	return rows
}

// codeNamed returns the gRPC code whose upper-case name (NOT_FOUND, CANCELLED) is in cell.
func codeNamed(t *testing.T, cell string) codes.Code {
	t.Helper()
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(strconv.Quote(m[1]))); err == nil {
			return c
		}
	}
	t.Fatalf("no gRPC code in %q", cell)
	return 0
}

// restAnswer is what the REST surface answers for st.
func restAnswer(t *testing.T, st *status.Status) (int, string, string) {
	t.Helper()
	w := httptest.NewRecorder()
	httpStatus := writeStatus(context.Background(), w, st.Err(), false)
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return httpStatus, body.Error.Type, w.Header().Get("Retry-After")
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestErrorTableTypes checks docs/errors.md's table of upstream error types: one row for every
// type the REST surface knows, each with the gRPC code of internal/service and the HTTP status
// the REST surface answers when the gateway raises that type itself.
func TestErrorTableTypes(t *testing.T) {
	rows := markdownTable(t, readDoc(t, "../../docs/errors.md"), "upstream error type")
	seen := map[string]bool{}
	for _, row := range rows {
		typ := strings.Trim(row[0], "`")
		seen[typ] = true
		if _, known := typeStatuses[typ]; !known {
			t.Errorf("docs/errors.md lists %q, which the gateway does not know as an upstream type", typ)
			continue
		}
		code := codeNamed(t, row[1])
		if got := service.CodeOf(typ); got != code {
			t.Errorf("docs/errors.md: %s is %v, the code maps it to %v", typ, code, got)
		}
		st, err := status.New(code, "m").WithDetails(&errdetails.ErrorInfo{Reason: typ, Domain: service.ErrorDomain})
		if err != nil {
			t.Fatal(err)
		}
		if got, gotType, _ := restAnswer(t, st); strconv.Itoa(got) != row[2] || gotType != typ {
			t.Errorf("docs/errors.md: %s is REST %s, the REST surface answers %d %q", typ, row[2], got, gotType)
		}
	}
	var missing []string
	for typ := range typeStatuses {
		if !seen[typ] {
			missing = append(missing, typ)
		}
	}
	if slices.Sort(missing); len(missing) > 0 {
		t.Errorf("docs/errors.md does not list the upstream types %q", missing)
	}
	if service.CodeOf("a_type_nobody_documented") != codes.Internal {
		t.Errorf("an unknown type is no longer INTERNAL, as docs/errors.md says")
	}
}

// TestErrorTableGateway checks docs/errors.md's table of what the gateway decides itself, from
// the gRPC code on: the REST status, type and Retry-After of a status with that code and the
// documented reason. Rows whose REST status is the upstream's own have no fixed status to check.
func TestErrorTableGateway(t *testing.T) {
	rows := markdownTable(t, readDoc(t, "../../docs/errors.md"), "what happened")
	checked := 0
	for _, row := range rows {
		code := codeNamed(t, row[1])
		wantStatus := httpStatus.FindString(row[2])
		types := backticked.FindAllStringSubmatch(row[2], -1)
		if wantStatus == "" || strings.Contains(row[2], "upstream's") || len(types) == 0 {
			continue
		}
		reason := types[0][1]
		details := []*errdetails.ErrorInfo{{Reason: reason, Domain: service.ErrorDomain}}
		st, err := status.New(code, "m").WithDetails(details[0])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(row[3], "RetryInfo") {
			st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(upstream.ShedRetryAfter)})
		}
		got, gotType, retryAfter := restAnswer(t, st)
		if strconv.Itoa(got) != wantStatus || gotType != reason {
			t.Errorf("docs/errors.md: %q is REST %s %s; the REST surface answers %d %q", row[0], wantStatus, reason, got, gotType)
		}
		if want := strings.Contains(row[2], "Retry-After"); want != (retryAfter != "") {
			t.Errorf("docs/errors.md: %q: Retry-After documented = %v, answered %q", row[0], want, retryAfter)
		}
		checked++
	}
	if checked < 8 {
		t.Errorf("only %d rows of docs/errors.md's second table could be checked; has its layout changed?", checked)
	}

	// The shed row is the one whose status internal/service builds in the open.
	st := status.Convert(service.Shed("x"))
	if st.Code() != codes.ResourceExhausted || service.TypeOf(st) != "too_many_requests" || service.RetryDelay(st) != upstream.ShedRetryAfter {
		t.Errorf("a shed call is %v %q RetryInfo %v, not as docs/errors.md says", st.Code(), service.TypeOf(st), service.RetryDelay(st))
	}
}

// TestREADMEErrorTable checks that README.md's short table gives each upstream type the code
// docs/errors.md and the code give it.
func TestREADMEErrorTable(t *testing.T) {
	rows := markdownTable(t, readDoc(t, "../../README.md"), "upstream error type, or what happened")
	seen := 0
	for _, row := range rows {
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			if _, isType := typeStatuses[m[1]]; !isType {
				continue
			}
			seen++
			if code, got := codeNamed(t, row[1]), service.CodeOf(m[1]); code != got {
				t.Errorf("README.md: %s is %v, the code maps it to %v", m[1], code, got)
			}
		}
	}
	if seen != len(typeStatuses) {
		t.Errorf("README.md's error table names %d upstream types, the gateway knows %d", seen, len(typeStatuses))
	}
}
