package server

import (
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	v1reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	gateway "github.com/livechat-gateway/gateway"
)

// registerReflection serves the reflection service (v1 and v1alpha, which older tools such as
// ghz use) on s, answering from the protos with their comments (gateway.Descriptors), and from
// the descriptors compiled into the binary for the rest (health, reflection).
func registerReflection(s *grpc.Server) error {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(gateway.Descriptors(), &set); err != nil {
		return fmt.Errorf("reflection: the embedded descriptors: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return fmt.Errorf("reflection: the embedded descriptors: %w", err)
	}
	opts := reflection.ServerOptions{Services: s, DescriptorResolver: resolvers{files, protoregistry.GlobalFiles}}
	v1 := reflection.NewServerV1(opts)
	v1reflectiongrpc.RegisterServerReflectionServer(s, v1)
	v1alphareflectiongrpc.RegisterServerReflectionServer(s, reflection.NewServer(opts))
	return nil
}

// resolvers looks a descriptor up in each resolver in turn.
type resolvers []protodesc.Resolver

func (rs resolvers) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, r := range rs {
		if fd, err := r.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", path, protoregistry.NotFound)
}

func (rs resolvers) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, r := range rs {
		d, err := r.FindDescriptorByName(name)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, protoregistry.NotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s: %w", name, protoregistry.NotFound)
}
