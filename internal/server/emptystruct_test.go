package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
)

// TestUnencodedStructRefused: a property write whose namespace Struct is empty, which is what a
// client library sends when it could not encode the value it was given (Node's proto-loader turns
// a plain object into an empty Struct), is refused with INVALID_ARGUMENT naming the namespace,
// over both surfaces, without an upstream call, instead of succeeding and writing nothing.
func TestUnencodedStructRefused(t *testing.T) {
	v := newEnv(t)
	ns := "0805e283233042b37f460ed8fbf22160" // dal:owner-a's namespace
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := configv1.NewPropertyServiceClient(v.conn).UpdateLicenseProperties(
		metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+ownerA),
		&configv1.UpdateLicensePropertiesRequest{Properties: map[string]*structpb.Struct{ns: {}}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "properties."+ns) {
		t.Fatalf("UpdateLicenseProperties with an empty namespace Struct = %v, want INVALID_ARGUMENT naming properties.%s", err, ns)
	}
	var named bool
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, f := range br.GetFieldViolations() {
				named = named || f.GetField() == "properties."+ns
			}
		}
	}
	if !named {
		t.Errorf("the refusal's BadRequest does not name properties.%s: %v", ns, st.Details())
	}
	rest := v.rest(ownerA, "update_license_properties", `{"properties":{"`+ns+`":{}}}`)
	if rest.status != 422 || !strings.Contains(rest.body, `"type":"validation"`) || !strings.Contains(rest.body, "properties."+ns) {
		t.Errorf("REST update_license_properties with an empty namespace = %d %s, want 422 validation naming it", rest.status, rest.body)
	}
	if n := v.calls("update_license_properties"); n != 0 {
		t.Errorf("the refused writes made %d upstream calls", n)
	}
}
