// Package gateway holds the generated files that the binaries embed. It lives at the root of the
// module because go:embed reads only files below the embedding package, and gen/ is generated
// whole, with no hand-written files in it.
package gateway

import (
	_ "embed"
	"slices"
)

var (
	//go:embed gen/openapi/configuration.openapi.json
	openAPI []byte
	//go:embed gen/openapiv2/configuration.swagger.json
	swagger []byte
	//go:embed gen/configuration.protoset
	protoset []byte
)

// OpenAPI returns the OpenAPI 3.1 document of the REST surface, which cmd/openapi31 converts from
// the Swagger 2.0 one (internal/openapi says what it adds). The gateway serves it at
// /openapi.json.
func OpenAPI() []byte { return slices.Clone(openAPI) }

// Swagger returns the Swagger 2.0 (OpenAPI 2) document of the REST surface, as
// protoc-gen-openapiv2 generated it from the protos and http.yaml, for tools that read only that
// version. The gateway serves it at /swagger.json.
func Swagger() []byte { return slices.Clone(swagger) }

// Descriptors returns the protos as a serialized google.protobuf.FileDescriptorSet, with their
// imports and source info (the comments), as buf builds it. The gateway's reflection service
// serves these, so that grpcurl's describe shows the comments, which the descriptors compiled
// into the Go code leave out.
func Descriptors() []byte { return slices.Clone(protoset) }
