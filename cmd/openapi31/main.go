// Command openapi31 writes the OpenAPI 3.1 document of the REST surface, converted from the
// Swagger 2.0 document that protoc-gen-openapiv2 generates (internal/openapi says how). `make
// generate` runs it after buf, and `make check-generated` checks that its output is fresh.
//
//	go run ./cmd/openapi31 -in gen/openapiv2/configuration.swagger.json \
//		-examples internal/rest/testdata/spec,internal/openapi/probes -out gen/openapi/configuration.openapi.json
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/livechat-gateway/gateway/internal/openapi"
)

func main() {
	in := flag.String("in", "gen/openapiv2/configuration.swagger.json", "the Swagger 2.0 document")
	examples := flag.String("examples", "internal/rest/testdata/spec,internal/openapi/probes",
		"comma-separated directories of valid requests (<action>.request.json): the spec's examples, and probes of what they leave out")
	out := flag.String("out", "gen/openapi/configuration.openapi.json", "the OpenAPI 3.1 document to write")
	flag.Parse()
	if err := run(*in, *examples, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi31:", err)
		os.Exit(1)
	}
}

func run(in, examples, out string) error {
	swagger, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	ex := map[string][][]byte{}
	for _, dir := range strings.Split(examples, ",") {
		files, err := filepath.Glob(filepath.Join(dir, "*.request.json"))
		if err != nil {
			return err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			name := strings.TrimSuffix(filepath.Base(f), ".request.json")
			ex[name] = append(ex[name], b)
		}
	}
	doc, err := openapi.Convert(swagger, ex)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}
