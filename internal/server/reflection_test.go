//lint:file-ignore SA1019 the v1alpha reflection service is deprecated, but ghz and older grpcurl speak only it, so the test calls it
package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionalphapb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestReflectionAndHealth checks what grpcurl and load balancers rely on: server reflection lists
// the five services, and grpc.health.v1 says SERVING.
func TestReflectionAndHealth(t *testing.T) {
	v := newEnv(t)
	stream, err := reflectionpb.NewServerReflectionClient(v.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{
		"livechat.configuration.v1.AgentService", "livechat.configuration.v1.BotService",
		"livechat.configuration.v1.GroupService", "livechat.configuration.v1.PropertyService",
		"livechat.configuration.v1.WebhookService", "grpc.health.v1.Health",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	// A file descriptor by symbol: what grpcurl needs to build a request.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "livechat.configuration.v1.AgentService"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("reflection has no descriptor for AgentService: %v %v", resp.GetErrorResponse(), err)
	}
	// With the protos' comments, so that grpcurl's describe shows them.
	var file descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(resp.GetFileDescriptorResponse().GetFileDescriptorProto()[0], &file); err != nil {
		t.Fatal(err)
	}
	var comments int
	for _, l := range file.GetSourceCodeInfo().GetLocation() {
		if strings.TrimSpace(l.GetLeadingComments()) != "" {
			comments++
		}
	}
	if file.GetName() == "" || comments < 10 {
		t.Errorf("reflection's %s has %d commented elements, want the protos' comments", file.GetName(), comments)
	}
	// The services whose descriptors are the binary's own resolve too.
	for _, symbol := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol},
		}); err != nil {
			t.Fatal(err)
		}
		if resp, err := stream.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
			t.Errorf("reflection has no descriptor for %s: %v %v", symbol, resp.GetErrorResponse(), err)
		}
	}
	// ghz and older grpcurl speak v1alpha.
	alpha, err := reflectionalphapb.NewServerReflectionClient(v.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := alpha.Send(&reflectionalphapb.ServerReflectionRequest{
		MessageRequest: &reflectionalphapb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "livechat.configuration.v1.GroupService"},
	}); err != nil {
		t.Fatal(err)
	}
	if resp, err := alpha.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("v1alpha reflection has no descriptor for GroupService: %v %v", resp.GetErrorResponse(), err)
	}
	h, err := healthpb.NewHealthClient(v.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v; want SERVING", h, err)
	}
}
