package service

import (
	"maps"
	"slices"
	"testing"

	"github.com/livechat-gateway/gateway/internal/upstream"
)

// TestDocumentedTypes: the error types the upstream client's metrics name are the ones the
// service maps to gRPC codes, so that neither list drifts from the other.
func TestDocumentedTypes(t *testing.T) {
	mapped := slices.Sorted(maps.Keys(typeCodes))
	named := slices.Sorted(slices.Values(upstream.DocumentedTypes))
	if !slices.Equal(mapped, named) {
		t.Errorf("service maps %v, upstream's metrics name %v", mapped, named)
	}
}
