// The package's one entry point: the generated messages and services, the runtime functions a
// caller needs with them, and the helpers. The runtime is re-exported so that a program that
// imports only this package uses the same copy of @bufbuild/protobuf as the generated code.
export * from "./gen/livechat/configuration/v1/agent_pb.js";
export * from "./gen/livechat/configuration/v1/bot_pb.js";
export * from "./gen/livechat/configuration/v1/common_pb.js";
export * from "./gen/livechat/configuration/v1/group_pb.js";
export * from "./gen/livechat/configuration/v1/property_pb.js";
export * from "./gen/livechat/configuration/v1/webhook_pb.js";
export * from "./gen/google/rpc/status_pb.js";
export * from "./gen/google/rpc/error_details_pb.js";
export { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
export { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
export { createGrpcTransport } from "@connectrpc/connect-node";
export * from "./client.js";
export * from "./errors.js";
export * from "./mask.js";
export * from "./struct.js";
