// The dynamic way many Node teams call gRPC: @grpc/proto-loader reads proto/ at run time, with no
// generated code. It checks what comes back and exits 1 on any mismatch.
//
// GATEWAY_GRPC_ADDR is the gateway's gRPC address (host:port), LIVECHAT_TOKEN the token.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const address = process.env.GATEWAY_GRPC_ADDR;
const token = process.env.LIVECHAT_TOKEN;
if (!address || !token) {
  console.error("set GATEWAY_GRPC_ADDR (host:port) and LIVECHAT_TOKEN");
  process.exit(2);
}

const protoDir = join(dirname(fileURLToPath(import.meta.url)), "../../proto");
// google/rpc/error_details.proto, to decode error details, comes from the npm package
// google-proto-files; google/protobuf's own files are built into protobufjs.
const googleDir = dirname(createRequire(import.meta.url).resolve("google-proto-files/package.json"));
const services = ["agent", "group", "property"].map((s) => `livechat/configuration/v1/${s}.proto`);
const definition = protoLoader.loadSync([...services, "google/rpc/error_details.proto"], {
  includeDirs: [protoDir, googleDir],
  // keepCase: field names as in the proto (job_title, not jobTitle). Without it, answers come
  // back camelCase while update_mask paths, which are strings, must still be snake_case.
  keepCase: true,
  // oneofs: an optional field that is set also sets its synthetic oneof, _id: "id", which is
  // how group 0's id (0) is told from an unset one; defaults: false leaves unset fields out.
  oneofs: true,
  defaults: false,
  // arrays: an empty list is [] rather than left out (defaults: false would drop it).
  arrays: true,
  enums: String,
  // longs: 64-bit integers as strings (the gateway has none in its messages, but Duration has).
  longs: String,
});
const pkg = grpc.loadPackageDefinition(definition);
const v1 = pkg.livechat.configuration.v1;
const md = new grpc.Metadata();
md.set("authorization", `Bearer ${token}`);
// Promises over the callback API, with the metadata on every call.
function client(Service) {
  const c = new Service(address, grpc.credentials.createInsecure());
  return new Proxy(c, { get: (t, name) => (req) => promisify(t[name].bind(t))(req, md) });
}
const agents = client(v1.AgentService);
const groups = client(v1.GroupService);
const properties = client(v1.PropertyService);

let passed = 0;
let failed = 0;
function check(what, got, want) {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g === w) passed++, console.log(`ok   ${what}`);
  else failed++, console.log(`FAIL ${what}: got ${g}, want ${w}`);
}

// proto-loader takes a google.protobuf.Struct in its proto form, { fields: { k: { stringValue } } }:
// a plain object where a Struct goes has no "fields", so it is sent as an empty Struct. These
// convert. The google/protobuf types are protobufjs's built-in copies, whose field names are
// camelCase (numberValue) whatever keepCase says.
function toValue(v) {
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  switch (typeof v) {
    case "string": return { stringValue: v };
    case "number": if (Number.isFinite(v)) return { numberValue: v }; break;
    case "boolean": return { boolValue: v };
    case "object": return { structValue: toStruct(v) };
  }
  throw new TypeError(`${String(v)} cannot be sent in a google.protobuf.Value`);
}
function toStruct(o) {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}
// checkStructs throws unless each value of req.properties, a map of Structs, is in proto form.
function checkStructs(req) {
  for (const [k, s] of Object.entries(req.properties ?? {})) {
    const keys = Object.keys(s ?? {});
    if (keys.some((key) => key !== "fields") || typeof s.fields !== "object") {
      throw new TypeError(`properties.${k}: a google.protobuf.Struct is { fields: { name: Value } }, not ${JSON.stringify(s)}: convert it with toStruct`);
    }
  }
  return req;
}
function fromValue(v) {
  switch (v.kind) {
    case "nullValue": return null;
    case "listValue": return (v.listValue.values ?? []).map(fromValue);
    case "structValue": return fromStruct(v.structValue);
    default: return v[v.kind];
  }
}
function fromStruct(s) {
  return Object.fromEntries(Object.entries(s.fields ?? {}).map(([k, v]) => [k, fromValue(v)]));
}

const run = Date.now().toString(36);

// A write then a read, and update_mask paths in snake_case.
const id = "agent-a@example.com";
await agents.UpdateAgent({ id, job_title: `Loader ${run}`, email_subscriptions: [], update_mask: { paths: ["job_title", "email_subscriptions"] } });
const { agent } = await agents.GetAgent({ id, fields: ["job_title", "email_subscriptions"] });
check("AgentService: job_title written then read", agent.job_title, `Loader ${run}`);
check("AgentService: update_mask cleared email_subscriptions", agent.email_subscriptions, []);

// Group 0: its id is 0, present because the synthetic oneof says it is set.
const { groups: all } = await groups.ListGroups({});
const general = all.find((g) => g.name === "General");
check("GroupService: group 0 has id 0, set", [general?.id, general?._id], [0, "id"]);

// An error's details: grpc-status-details-bin is a google.rpc.Status, whose details are Any.
try {
  await agents.GetAgent({ id: `nobody-${run}@example.com` });
  check("GetAgent of an unknown agent fails", "succeeded", "failed");
} catch (err) {
  const info = errorInfo(err);
  check("error: code", err.code, grpc.status.NOT_FOUND);
  check("error: ErrorInfo reason (the upstream's type)", info?.reason, "not_found");
}

// A property written as a Struct, read back.
const name = `loader_${run}`;
await properties.RegisterProperties({
  properties: { [name]: { type: "int", locations: { license: { access: { agent: { read: true, write: true } } } } } },
});
const { properties: registered } = await properties.ListRegisteredProperties({});
const ns = Object.keys(registered).find((k) => registered[k].fields?.[name]);
await properties.UpdateLicenseProperties(checkStructs({ properties: { [ns]: toStruct({ [name]: 42 }) } }));
let read = await properties.ListLicenseProperties({ namespace_prefix: ns });
check("PropertyService: Struct written then read", fromStruct(read.properties[ns])[name], 42);

// The trap: a plain object where a Struct goes. proto-loader encodes it as an empty Struct, so the
// gateway gets a namespace with no values; it refuses that with INVALID_ARGUMENT naming the
// namespace (a namespace must set a property), instead of succeeding and writing nothing.
try {
  await properties.UpdateLicenseProperties({ properties: { [ns]: { [name]: 7 } } });
  check("a plain object in place of a Struct is refused", "OK", "INVALID_ARGUMENT");
} catch (err) {
  check("a plain object in place of a Struct is refused", err.code, grpc.status.INVALID_ARGUMENT);
  check("the refusal names the namespace", err.details.includes(`properties.${ns}`), true);
}
read = await properties.ListLicenseProperties({ namespace_prefix: ns });
check("the refused write wrote nothing", fromStruct(read.properties[ns])[name], 42);
// protobufjs cannot tell that mistake itself (it ignores keys that are no field), so a caller may
// check before sending, as checkStructs does, and get the mistake at its own line.
try {
  await properties.UpdateLicenseProperties(checkStructs({ properties: { [ns]: { [name]: 7 } } }));
  check("checkStructs refuses a plain object in place of a Struct", "sent", "refused");
} catch (err) {
  check("checkStructs refuses a plain object in place of a Struct", err instanceof TypeError, true);
}
// A value in place of a google.protobuf.Value is refused: protobufjs sends a Value with no kind,
// and the gateway answers INVALID_ARGUMENT.
try {
  await properties.UpdateLicenseProperties({ properties: { [ns]: { fields: { [name]: { number: 7 } } } } });
  check("a Value with no kind is refused", "succeeded", "failed");
} catch (err) {
  check("a Value with no kind is refused: INVALID_ARGUMENT", err.code, grpc.status.INVALID_ARGUMENT);
}

// errorInfo decodes the ErrorInfo among a failed call's details.
function errorInfo(err) {
  const [bin] = err.metadata?.get("grpc-status-details-bin") ?? [];
  if (!bin) return undefined;
  const root = protobufRoot();
  const status = root.lookupType("google.rpc.Status").decode(bin);
  const any = status.details.find((d) => d.type_url.endsWith("/google.rpc.ErrorInfo"));
  return any && root.lookupType("google.rpc.ErrorInfo").decode(any.value);
}
function protobufRoot() {
  // protobufjs, which proto-loader is built on, decodes the bytes; keepCase as above.
  const protobuf = createRequire(import.meta.url)("protobufjs");
  const root = new protobuf.Root();
  root.resolvePath = (_, target) => (target.startsWith("google/rpc/") ? join(googleDir, target) : target);
  return root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
}

console.log(`examples/node-proto-loader: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
