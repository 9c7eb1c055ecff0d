// Package gateway holds the generated files that the binaries embed. It lives at the root of the
// module because go:embed reads only files below the embedding package, and gen/ is generated
// whole, with no hand-written files in it.
package gateway

import (
	_ "embed"
	"slices"
)

//go:embed gen/openapiv2/configuration.swagger.json
var openAPI []byte

// OpenAPI returns the OpenAPI 2 document of the REST surface, as protoc-gen-openapiv2 generated
// it from the protos and http.yaml.
func OpenAPI() []byte { return slices.Clone(openAPI) }
