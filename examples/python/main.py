"""Calls every service of a running gateway through the generated Python stubs and checks what comes
back: a write then a read, an error decoded into its ErrorInfo, a property written as a Struct and
read back, an update_mask that clears a list, and a webhook subscription that receives an event and
resumes after it. It exits 1 on any mismatch.

GATEWAY_GRPC_ADDR is the gateway's gRPC address (host:port), LIVECHAT_TOKEN the token; against
`gateway -dev`, dal:owner-a (the owner of license A). EMULATOR_URL (-dev's emulator) and
GATEWAY_WEBHOOK_URL (the receiver's URL) turn the subscription on. clients/python must be on sys.path
(./run sets PYTHONPATH).
"""

import json
import os
import sys
import time
import urllib.request

import grpc

import livechat_gateway as lg
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from livechat.configuration.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    bot_pb2,
    bot_pb2_grpc,
    group_pb2,
    group_pb2_grpc,
    property_pb2,
    property_pb2_grpc,
    webhook_pb2,
    webhook_pb2_grpc,
)

address, token = os.environ.get("GATEWAY_GRPC_ADDR"), os.environ.get("LIVECHAT_TOKEN")
if not address or not token:
    sys.exit("set GATEWAY_GRPC_ADDR (host:port) and LIVECHAT_TOKEN")
ch = lg.channel(address, token)
agents = agent_pb2_grpc.AgentServiceStub(ch)
bots = bot_pb2_grpc.BotServiceStub(ch)
groups = group_pb2_grpc.GroupServiceStub(ch)
properties = property_pb2_grpc.PropertyServiceStub(ch)
webhooks = webhook_pb2_grpc.WebhookServiceStub(ch)

results = {"passed": 0, "failed": 0}


def check(what, got, want):
    if got == want and type(got) is type(want):
        results["passed"] += 1
        print(f"ok   {what}")
    else:
        results["failed"] += 1
        print(f"FAIL {what}: got {got!r}, want {want!r}")


# A suffix keeps names unique when the example runs twice against the same gateway.
run = format(int(time.time() * 1000), "x")

# AgentService: a write then a read, and an update_mask that clears a list. Without the mask an
# empty notifications list could not be told from an unset one, and would leave the list as it is.
agent_id = "agent-a@example.com"
agents.UpdateAgent(lg.update_request(
    agent_pb2.UpdateAgentRequest, id=agent_id, job_title=f"Support {run}", notifications=["new_visitor", "ticket"]))
fields = ["job_title", "notifications"]
agent = agents.GetAgent(agent_pb2.GetAgentRequest(id=agent_id, fields=fields)).agent
check("AgentService: job_title written then read", agent.job_title, f"Support {run}")
check("AgentService: notifications written then read", list(agent.notifications), ["new_visitor", "ticket"])
clear = lg.update_request(agent_pb2.UpdateAgentRequest, id=agent_id, notifications=[])
check("update_mask names the fields given", list(clear.update_mask.paths), ["id", "notifications"])
agents.UpdateAgent(clear)
agent = agents.GetAgent(agent_pb2.GetAgentRequest(id=agent_id, fields=fields)).agent
check("AgentService: update_mask cleared notifications", list(agent.notifications), [])
check("AgentService: update_mask left job_title as it was", agent.job_title, f"Support {run}")

# An error, decoded from its details: the upstream's type is the ErrorInfo reason.
try:
    agents.GetAgent(agent_pb2.GetAgentRequest(id=f"nobody-{run}@example.com"))
    check("GetAgent of an unknown agent fails", "succeeded", "failed")
except grpc.RpcError as err:
    e = lg.gateway_error(err)
    assert e is not None  # None only for an error that is not a call's
    check("error: code", e.code, grpc.StatusCode.NOT_FOUND)
    check("error: ErrorInfo reason (the upstream's type)", e.type, "not_found")
    check("error: ErrorInfo metadata http_status", e.metadata.get("http_status"), "404")

# GroupService: group 0 ("General") always exists. Its id is 0, which proto3 would not send, so
# Group.id is optional: HasField("id") tells 0 from unset.
general = [g for g in groups.ListGroups(group_pb2.ListGroupsRequest()).groups if g.name == "General"]
check("GroupService: group 0 is listed with id 0", [(g.HasField("id"), g.id) for g in general], [(True, 0)])
group_id = groups.CreateGroup(group_pb2.CreateGroupRequest(
    name=f"Example {run}", agent_priorities={agent_id: "normal"})).id
groups.UpdateGroup(lg.update_request(group_pb2.UpdateGroupRequest, id=group_id, name=f"Renamed {run}"))
group = groups.GetGroup(group_pb2.GetGroupRequest(id=group_id, fields=["agent_priorities"])).group
check("GroupService: name written then read", group.name, f"Renamed {run}")
check("GroupService: agent_priorities read", dict(group.agent_priorities), {agent_id: "normal"})
groups.DeleteGroup(group_pb2.DeleteGroupRequest(id=group_id))

# A refused field comes back as a BadRequest field violation as well.
try:
    groups.CreateGroup(group_pb2.CreateGroupRequest(name=f"Example {run}", agent_priorities={agent_id: "boss"}))
    check("CreateGroup with a bad priority fails", "succeeded", "failed")
except grpc.RpcError as err:
    e = lg.gateway_error(err)
    assert e is not None
    check("validation error: type", e.type, "validation")
    check("validation error: names the field", len(e.field_violations) > 0, True)

# BotService: a write then a read.
bot_id = bots.CreateBot(bot_pb2.CreateBotRequest(name=f"Bot {run}", max_chats_count=7)).bot_agent_id
bot = bots.GetBot(bot_pb2.GetBotRequest(bot_agent_id=bot_id)).bot_agent
check("BotService: name written then read", bot.name, f"Bot {run}")
check("BotService: max_chats_count written then read", bot.max_chats_count, 7)
bots.DeleteBot(bot_pb2.DeleteBotRequest(bot_agent_id=bot_id))

# PropertyService: register properties (a domain is a list of google.protobuf.Value), write values
# as a Struct, read them back. The namespace is the token's application's client id.
size, count = f"size_{run}", f"count_{run}"
rw = property_pb2.PropertyLocation(access={"agent": property_pb2.PropertyAccess(read=True, write=True)})
properties.RegisterProperties(property_pb2.RegisterPropertiesRequest(properties={
    size: property_pb2.PropertyDefinition(
        type="string", locations={"license": rw}, domain=[lg.to_value("small"), lg.to_value("large")]),
    count: property_pb2.PropertyDefinition(type="int", locations={"license": rw}),
}))
registered = properties.ListRegisteredProperties(property_pb2.ListRegisteredPropertiesRequest()).properties
namespace = next((ns for ns, defs in registered.items() if size in defs.fields), None)
check("PropertyService: the registered property is listed", namespace is not None, True)
if namespace is None:
    sys.exit("examples/python: the property just registered is not listed")
check("PropertyService: its domain round-trips",
      lg.from_struct(registered[namespace]).get(size, {}).get("domain"), ["small", "large"])
req = property_pb2.UpdateLicensePropertiesRequest()
req.properties[namespace].CopyFrom(lg.to_struct({size: "large", count: 42}))
properties.UpdateLicenseProperties(req)
read = properties.ListLicenseProperties(property_pb2.ListLicensePropertiesRequest(namespace_prefix=namespace))
values = lg.from_struct(read.properties[namespace])
# A Value carries numbers as doubles, so the int property comes back as a float: 42.0.
check("PropertyService: Struct written then read (an int comes back as 42.0)",
      {size: values.get(size), count: values.get(count)}, {size: "large", count: 42.0})
check("PropertyService: ints=True gives the int back",
      lg.from_struct(read.properties[namespace], ints=True).get(count), 42)
properties.DeleteLicenseProperties(property_pb2.DeleteLicensePropertiesRequest(
    properties={namespace: lg.to_list_value([count])}))
read = properties.ListLicenseProperties(property_pb2.ListLicensePropertiesRequest(namespace_prefix=namespace))
check("PropertyService: a deleted value is gone", count in read.properties[namespace].fields, False)

# A value that a Struct cannot carry fails in the client, before anything is sent, instead of
# being changed or dropped on the way.
for what, bad in [("an object", object()), ("NaN", float("nan")), ("an int beyond 2**53", 2**60)]:
    try:
        req = property_pb2.UpdateLicensePropertiesRequest()
        req.properties[namespace].CopyFrom(lg.to_struct({count: bad}))
        properties.UpdateLicenseProperties(req)
        check(f"a Struct holding {what} is refused", "sent", "refused")
    except (TypeError, ValueError):
        check(f"a Struct holding {what} is refused before sending", True, True)

# RetryInfo, which the dev gateway sends only under load: decoded from a status built here, as
# the gateway sends it when it sheds a call (RESOURCE_EXHAUSTED, too_many_requests, 1.5s).
class Shed(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.RESOURCE_EXHAUSTED

    def details(self):
        return "too many calls; retry later"

    def trailing_metadata(self):
        st = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message=self.details())
        st.details.add().Pack(error_details_pb2.ErrorInfo(reason="too_many_requests", domain=lg.ERROR_DOMAIN))
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(1500)
        st.details.add().Pack(retry)
        return (("grpc-status-details-bin", st.SerializeToString()),)


e = lg.gateway_error(Shed())
assert e is not None
check("RetryInfo: type and delay decoded", (e.type, e.retry_delay), ("too_many_requests", 1.5))

# WebhookService: a write then a read.
url = f"https://example.com/hooks/{run}"
webhook_id = webhooks.RegisterWebhook(webhook_pb2.RegisterWebhookRequest(
    action="incoming_chat", secret_key="example-secret", url=url)).webhook_id
listed = webhooks.ListRegisteredWebhooks(webhook_pb2.ListRegisteredWebhooksRequest()).webhooks
check("WebhookService: registered then listed", [h.url for h in listed if h.webhook_id == webhook_id], [url])
webhooks.UnregisterWebhook(webhook_pb2.UnregisterWebhookRequest(webhook_id=webhook_id))

# WebhookService.SubscribeWebhooks, a server stream of the deliveries the gateway's receiver
# stored: subscribe, fire an event at the emulator (which -dev makes deliver to the gateway's
# receiver), receive it, then disconnect, miss two events, and resume after the last one
# processed. Only against `gateway -dev`, whose emulator examples/run names.
emulator, receiver = os.environ.get("EMULATOR_URL"), os.environ.get("GATEWAY_WEBHOOK_URL")
if not emulator or not receiver:
    print("skip SubscribeWebhooks: EMULATOR_URL and GATEWAY_WEBHOOK_URL are unset (examples/run sets them)")
else:
    # A webhook of this run's own, with a secret it knows, registered with the receiver's URL: the
    # gateway learns the secret as the registration passes through it.
    secret_key = f"example-secret-{run}"
    hook_id = webhooks.RegisterWebhook(webhook_pb2.RegisterWebhookRequest(
        action="incoming_chat", secret_key=secret_key, url=receiver)).webhook_id

    def fire(chat_id):
        """Asks the emulator to deliver an incoming_chat event of license A; returns its payload."""
        payload = {"chat": {"id": chat_id, "users": []}}
        body = json.dumps({"license": "A", "action": "incoming_chat", "payload": payload}).encode()
        req = urllib.request.Request(f"{emulator}/emulator/events", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            deliveries = json.load(resp)["deliveries"]
        check(f"emulator: {chat_id} delivered to the receiver",
              [d.get("status") for d in deliveries if d["webhook_id"] == hook_id], [200])
        return payload

    def subscribe(after):
        """Opens a stream of license A's deliveries to this run's webhook, after an event id ("" for
        only new ones). The first message is always a heartbeat, whose after says where the stream
        starts; it is returned with the stream."""
        stream = webhooks.SubscribeWebhooks(
            webhook_pb2.SubscribeWebhooksRequest(license_id="A", webhook_ids=[hook_id], after=after), timeout=30)
        first = next(stream)
        if first.WhichOneof("message") != "heartbeat":
            raise RuntimeError(f"the stream started with {first}, not a heartbeat")
        return stream, first.heartbeat.after

    def next_event(stream):
        """The stream's next event, past heartbeats."""
        for m in stream:
            if m.WhichOneof("message") == "event":
                return m.event
        raise RuntimeError("the stream ended")

    live, _ = subscribe("")
    first_payload = fire(f"chat-{run}-1")
    first = next_event(live)
    check("SubscribeWebhooks: the fired event arrives",
          (first.action, first.license_id, first.webhook_id), ("incoming_chat", "A", hook_id))
    check("SubscribeWebhooks: its payload is the one delivered", lg.from_struct(first.payload), first_payload)
    check("SubscribeWebhooks: the webhook's secret is not in the event",
          secret_key in json_format.MessageToJson(first), False)
    live.cancel()

    # Disconnected, two more events arrive; resuming after the last event processed receives
    # exactly those, in order (at least once: a subscriber that did not record an id would get it
    # again).
    missed = [fire(f"chat-{run}-2"), fire(f"chat-{run}-3")]
    resumed, start = subscribe(first.id)
    check("SubscribeWebhooks: a resumed stream starts after the given id", start, first.id)
    again = [next_event(resumed), next_event(resumed)]
    check("SubscribeWebhooks: resumed with after, the missed events in order",
          [lg.from_struct(e.payload) for e in again], missed)
    # An id is "<milliseconds>-<sequence>": compared as two numbers, not as text.
    def order(event_id):
        return tuple(int(part) for part in event_id.split("-"))
    check("SubscribeWebhooks: event ids grow", order(first.id) < order(again[0].id) < order(again[1].id), True)
    resumed.cancel()
    webhooks.UnregisterWebhook(webhook_pb2.UnregisterWebhookRequest(webhook_id=hook_id))

print(f"examples/python: {results['passed']} passed, {results['failed']} failed")
sys.exit(0 if results["failed"] == 0 else 1)
