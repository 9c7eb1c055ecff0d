// A client's use of the types openapi-typescript generates from the gateway's /openapi.json
// (gen/schema.ts, written by check.sh). It only has to type-check: `tsc --noEmit` fails when the
// document makes any of these uses impossible, as the Swagger 2.0 one did (Struct fields became
// Record<string, never>, so properties and filters.chat_properties could not be written, nor
// error.data read).
import type { components, paths } from "./gen/schema";

type Schemas = components["schemas"];
type Action<A extends string> = paths[`/v3.2/configuration/action/${A}` & keyof paths]["post"];
type RequestBody<A extends string> =
  Action<A> extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
type Answer<A extends string, S extends number> =
  Action<A> extends { responses: { [K in S]: { content: { "application/json": infer B } } } } ? B : never;

// properties: a map of namespaces to Structs, written with values of every property type.
export const licenseProperties: RequestBody<"update_license_properties"> = {
  properties: { source: { type: "facebook", priority: 3, vip: true } },
};

// filters.chat_properties: a Struct, written with nested objects and lists.
export const webhook: RequestBody<"register_webhook"> = {
  action: "incoming_chat",
  secret_key: "secret",
  url: "https://example.com/webhooks",
  filters: { chat_properties: { source: { type: { values: ["facebook", "twitter"] } } } },
};

// required lists: a request without a required field does not type-check.
// @ts-expect-error url is required
export const noURL: Schemas["v1RegisterWebhookRequest"] = { action: "incoming_chat", secret_key: "secret" };

// register_properties takes the property map as its whole body.
export const registration: RequestBody<"register_properties"> = {
  string_property: {
    type: "string",
    locations: { chat: { access: { agent: { read: true, write: true } } } },
  },
};

// error.data.region, read from a misdirected_request answer, and the error's type and message.
export function retryRegion(e: Answer<"get_agent", 421>): string | undefined {
  const message: string = e.error.message;
  const type: string = e.error.type;
  return type === "misdirected_request" && message !== "" ? e.error.data?.region : undefined;
}

// The answers of list_agents (a top-level array) and list_license_properties (a map of Structs).
export function firstAgent(agents: Answer<"list_agents", 200>): string | undefined {
  return agents[0]?.id;
}
export function sourceType(props: Answer<"list_license_properties", 200>): unknown {
  return props["source"]?.["type"];
}
