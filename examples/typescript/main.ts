// Calls every service of a running gateway through the generated TypeScript client and checks
// what comes back: a write then a read, an error decoded into its ErrorInfo, a property written as
// a Struct and read back, an update_mask that clears a list, and a webhook subscription that
// receives an event and resumes after it. It exits 1 on any mismatch.
//
// GATEWAY_GRPC_ADDR is the gateway's gRPC address (host:port), LIVECHAT_TOKEN the token; against
// `gateway -dev`, dal:owner-a (the owner of license A). EMULATOR_URL (-dev's emulator) and
// GATEWAY_WEBHOOK_URL (the receiver's URL) turn the subscription on.
import {
  Code,
  ConnectError,
  ErrorDomain,
  ErrorInfoSchema,
  RetryInfoSchema,
  WebhookEventSchema,
  CreateBotRequestSchema,
  CreateGroupRequestSchema,
  UpdateAgentRequestSchema,
  UpdateGroupRequestSchema,
  checkJsonObject,
  create,
  fromValue,
  gatewayClients,
  gatewayError,
  toJson,
  toListValue,
  toValue,
  updateMask,
  updateRequest,
  type JsonObject,
  type WebhookEvent,
} from "@livechat-gateway/client";

const address = process.env.GATEWAY_GRPC_ADDR;
const token = process.env.LIVECHAT_TOKEN;
if (!address || !token) {
  console.error("set GATEWAY_GRPC_ADDR (host:port) and LIVECHAT_TOKEN");
  process.exit(2);
}
const { agents, bots, groups, properties, webhooks } = gatewayClients({ address, token });

let passed = 0;
let failed = 0;
// canonical is JSON with sorted keys: a map's or a Struct's order is not part of what it says.
function canonical(v: unknown): string {
  return JSON.stringify(v, (_, x) =>
    x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x,
  );
}
function check(what: string, got: unknown, want: unknown): void {
  const g = canonical(got);
  const w = canonical(want);
  if (g === w) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}: got ${g}, want ${w}`);
  }
}

// A suffix keeps names unique when the example runs twice against the same gateway.
const run = Date.now().toString(36);

// AgentService: a write then a read, and an update_mask that clears a list. Without the mask an
// empty notifications list could not be told from an unset one, and would leave the list as it is.
const agentId = "agent-a@example.com";
await agents.updateAgent(
  updateRequest(UpdateAgentRequestSchema, { id: agentId, jobTitle: `Support ${run}`, notifications: ["new_visitor", "ticket"] }),
);
let { agent } = await agents.getAgent({ id: agentId, fields: ["job_title", "notifications"] });
check("AgentService: job_title written then read", agent?.jobTitle, `Support ${run}`);
check("AgentService: notifications written then read", agent?.notifications, ["new_visitor", "ticket"]);
const clear = { id: agentId, notifications: [] };
check("update_mask names the proto fields set", updateMask(UpdateAgentRequestSchema, clear).paths, ["id", "notifications"]);
await agents.updateAgent(updateRequest(UpdateAgentRequestSchema, clear));
({ agent } = await agents.getAgent({ id: agentId, fields: ["job_title", "notifications"] }));
check("AgentService: update_mask cleared notifications", agent?.notifications, []);
check("AgentService: update_mask left job_title as it was", agent?.jobTitle, `Support ${run}`);

// An error, decoded from its details: the upstream's type is the ErrorInfo reason.
try {
  await agents.getAgent({ id: `nobody-${run}@example.com` });
  check("GetAgent of an unknown agent fails", "succeeded", "failed");
} catch (err) {
  const e = gatewayError(err);
  check("error: code", e?.code, Code.NotFound);
  check("error: ErrorInfo reason (the upstream's type)", e?.type, "not_found");
  check("error: ErrorInfo metadata http_status", e?.metadata.http_status, "404");
}

// GroupService: group 0 ("General") always exists; its id is 0, which is why Group.id is optional
// (an unset id and 0 differ). A new group needs an agent with priority normal.
const { groups: all } = await groups.listGroups({});
check("GroupService: group 0 is listed with id 0", all.find((g) => g.name === "General")?.id, 0);
const { id: groupId } = await groups.createGroup(
  create(CreateGroupRequestSchema, { name: `Example ${run}`, agentPriorities: { [agentId]: "normal" } }),
);
if (groupId === undefined) throw new Error("CreateGroup answered no id");
await groups.updateGroup(updateRequest(UpdateGroupRequestSchema, { id: groupId, name: `Renamed ${run}` }));
const { group } = await groups.getGroup({ id: groupId, fields: ["agent_priorities"] });
check("GroupService: name written then read", group?.name, `Renamed ${run}`);
check("GroupService: agent_priorities read", group?.agentPriorities, { [agentId]: "normal" });
await groups.deleteGroup({ id: groupId });

// A refused field comes back as a BadRequest field violation as well.
try {
  await groups.createGroup({ name: `Example ${run}`, agentPriorities: { [agentId]: "boss" } });
  check("CreateGroup with a bad priority fails", "succeeded", "failed");
} catch (err) {
  const e = gatewayError(err);
  check("validation error: type", e?.type, "validation");
  check("validation error: names the field", (e?.fieldViolations.length ?? 0) > 0, true);
}

// BotService: a write then a read.
const { botAgentId } = await bots.createBot(create(CreateBotRequestSchema, { name: `Bot ${run}`, maxChatsCount: 7 }));
const { botAgent: bot } = await bots.getBot({ botAgentId });
check("BotService: name written then read", bot?.name, `Bot ${run}`);
check("BotService: max_chats_count written then read", bot?.maxChatsCount, 7);
await bots.deleteBot({ botAgentId });

// PropertyService: register properties (a domain is a list of google.protobuf.Value), write
// values as a Struct, read them back. The namespace is the token's application's client id.
const size = `size_${run}`;
const count = `count_${run}`;
const rw = { access: { agent: { read: true, write: true } } };
await properties.registerProperties({
  properties: {
    [size]: { type: "string", locations: { license: rw }, domain: ["small", "large"].map(toValue) },
    [count]: { type: "int", locations: { license: rw } },
  },
});
const { properties: registered } = await properties.listRegisteredProperties({});
const namespace = Object.keys(registered).find((ns) => size in registered[ns]);
check("PropertyService: the registered property is listed", namespace !== undefined, true);
const domain = (registered[namespace ?? ""]?.[size] as JsonObject | undefined)?.domain;
check("PropertyService: its domain round-trips", domain, ["small", "large"]);
// A Struct field is a plain object in protobuf-es; checkJsonObject refuses what JSON cannot carry.
const values = checkJsonObject({ [size]: "large", [count]: 42 });
await properties.updateLicenseProperties({ properties: { [namespace!]: values } });
const { properties: read } = await properties.listLicenseProperties({ namespacePrefix: namespace });
// Only this run's keys: an earlier run against the same gateway left its own values.
const mine = Object.fromEntries(Object.keys(values).map((k) => [k, read[namespace!]?.[k]]));
check("PropertyService: Struct written then read", mine, values);
check("PropertyService: an int comes back as a number", read[namespace!]?.[count], 42);
await properties.deleteLicenseProperties({ properties: { [namespace!]: toListValue([count]) } });
const { properties: after } = await properties.listLicenseProperties({ namespacePrefix: namespace });
check("PropertyService: a deleted value is gone", after[namespace!]?.[count], undefined);
check("Value helpers round-trip", fromValue(toValue({ a: [1, "b", null, true] })), { a: [1, "b", null, true] });

// A value that a Struct cannot carry fails in the client, before anything is sent, instead of
// being dropped on the way and the write succeeding without it.
for (const [what, bad] of [
  ["undefined", { [count]: undefined }],
  ["a Date", { [count]: new Date(0) }],
  ["a bigint", { [count]: 42n }],
  ["NaN", { [count]: NaN }],
] as const) {
  try {
    await properties.updateLicenseProperties({ properties: { [namespace!]: checkJsonObject(bad) } });
    check(`a Struct holding ${what} is refused`, "sent", "refused");
  } catch (err) {
    check(`a Struct holding ${what} is refused before sending`, err instanceof TypeError, true);
  }
}

// RetryInfo, which the dev gateway sends only under load: decoded from a status built here, as
// the gateway sends it when it sheds a call (RESOURCE_EXHAUSTED, too_many_requests, 1.5s).
const shed = gatewayError(
  new ConnectError("too many calls; retry later", Code.ResourceExhausted, undefined, [
    { desc: ErrorInfoSchema, value: { reason: "too_many_requests", domain: ErrorDomain } },
    { desc: RetryInfoSchema, value: { retryDelay: { seconds: 1n, nanos: 500_000_000 } } },
  ]),
);
check("RetryInfo: type and delay decoded", [shed?.type, shed?.retryDelayMs], ["too_many_requests", 1500]);

// WebhookService: a write then a read.
const url = `https://example.com/hooks/${run}`;
const { webhookId } = await webhooks.registerWebhook({ action: "incoming_chat", secretKey: "example-secret", url });
const { webhooks: hooks } = await webhooks.listRegisteredWebhooks({});
check("WebhookService: registered then listed", hooks.find((h) => h.webhookId === webhookId)?.url, url);
await webhooks.unregisterWebhook({ webhookId });

// WebhookService.SubscribeWebhooks, a server stream of the deliveries the gateway's receiver
// stored: subscribe, fire an event at the emulator (which -dev makes deliver to the gateway's
// receiver), receive it, then disconnect, miss two events, and resume after the last one
// processed. Only against `gateway -dev`, whose emulator examples/run names.
const emulator = process.env.EMULATOR_URL;
const receiver = process.env.GATEWAY_WEBHOOK_URL;
if (!emulator || !receiver) {
  console.log("skip SubscribeWebhooks: EMULATOR_URL and GATEWAY_WEBHOOK_URL are unset (examples/run sets them)");
} else {
  // A webhook of this run's own, with a secret it knows, registered with the receiver's URL:
  // the gateway learns the secret as the registration passes through it.
  const secretKey = `example-secret-${run}`;
  const { webhookId: hookId } = await webhooks.registerWebhook({ action: "incoming_chat", secretKey, url: receiver });

  // fire asks the emulator to deliver an incoming_chat event of license A, and returns the
  // payload it delivered to this run's webhook.
  const fire = async (chatId: string): Promise<JsonObject> => {
    const payload = { chat: { id: chatId, users: [] } };
    const resp = await fetch(`${emulator}/emulator/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ license: "A", action: "incoming_chat", payload }),
    });
    const { deliveries } = (await resp.json()) as { deliveries: { webhook_id: string; status: number }[] };
    check(`emulator: ${chatId} delivered to the receiver`, deliveries.find((d) => d.webhook_id === hookId)?.status, 200);
    return payload;
  };

  // subscribe opens a stream of license A's deliveries to this run's webhook, after an event id
  // ("" for only new ones). The first message is always a heartbeat, whose after says where the
  // stream starts; next() returns the events that follow, skipping heartbeats.
  const subscribe = async (after: string) => {
    const abort = new AbortController();
    const stream = webhooks
      .subscribeWebhooks({ licenseId: "A", webhookIds: [hookId], after }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    const first = await stream.next();
    if (first.done || first.value.message.case !== "heartbeat") throw new Error("the stream did not start with a heartbeat");
    const next = async (): Promise<WebhookEvent> => {
      for (;;) {
        const m = await stream.next();
        if (m.done) throw new Error("the stream ended");
        if (m.value.message.case === "event") return m.value.message.value;
      }
    };
    return { start: first.value.message.value.after, next, close: () => abort.abort() };
  };

  const live = await subscribe("");
  const firstPayload = await fire(`chat-${run}-1`);
  const first = await live.next();
  check("SubscribeWebhooks: the fired event arrives", [first.action, first.licenseId, first.webhookId], ["incoming_chat", "A", hookId]);
  check("SubscribeWebhooks: its payload is the one delivered", first.payload, firstPayload);
  const json = JSON.stringify(toJson(WebhookEventSchema, first));
  check("SubscribeWebhooks: the webhook's secret is not in the event", json.includes(secretKey), false);
  live.close();

  // Disconnected, two more events arrive; resuming after the last event processed receives
  // exactly those, in order (at least once: a subscriber that did not record an id would get
  // it again).
  const missed = [await fire(`chat-${run}-2`), await fire(`chat-${run}-3`)];
  const resumed = await subscribe(first.id);
  check("SubscribeWebhooks: a resumed stream starts after the given id", resumed.start, first.id);
  const again = [await resumed.next(), await resumed.next()];
  check("SubscribeWebhooks: resumed with after, the missed events in order", again.map((e) => e.payload), missed);
  // An id is "<milliseconds>-<sequence>": compared as two numbers, not as text.
  const before = (a: string, b: string) => {
    const [am, as] = a.split("-").map(BigInt);
    const [bm, bs] = b.split("-").map(BigInt);
    return am < bm || (am === bm && as < bs);
  };
  check("SubscribeWebhooks: event ids grow", before(first.id, again[0].id) && before(again[0].id, again[1].id), true);
  resumed.close();
  await webhooks.unregisterWebhook({ webhookId: hookId });
}

console.log(`examples/typescript: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
