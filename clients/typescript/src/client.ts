import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AgentService } from "./gen/livechat/configuration/v1/agent_pb.js";
import { BotService } from "./gen/livechat/configuration/v1/bot_pb.js";
import { GroupService } from "./gen/livechat/configuration/v1/group_pb.js";
import { PropertyService } from "./gen/livechat/configuration/v1/property_pb.js";
import { WebhookService } from "./gen/livechat/configuration/v1/webhook_pb.js";

/** How to reach the gateway and whom to call it as. */
export interface GatewayOptions {
  /** The gateway's gRPC address, host:port (GATEWAY_GRPC_ADDR), or a URL such as https://host:443. */
  address: string;
  /** The caller's LiveChat access token, sent as "authorization: Bearer <token>". */
  token: string;
  /** The LiveChat region to call ("dal", "fra"), sent as x-region; the gateway picks one when unset. */
  region?: string;
}

/** A client of each service of the gateway, sharing one HTTP/2 connection. */
export interface GatewayClients {
  agents: Client<typeof AgentService>;
  bots: Client<typeof BotService>;
  groups: Client<typeof GroupService>;
  properties: Client<typeof PropertyService>;
  webhooks: Client<typeof WebhookService>;
}

/**
 * authMetadata sets the metadata the gateway reads on every call. The token is the upstream's:
 * the gateway forwards it and keeps no credentials of its own.
 */
export function authMetadata(token: string, region?: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    if (region) req.header.set("x-region", region);
    return next(req);
  };
}

/** gatewayClients connects to the gateway over gRPC (HTTP/2; plaintext for a bare host:port). */
export function gatewayClients(opts: GatewayOptions): GatewayClients {
  const baseUrl = /^https?:\/\//.test(opts.address) ? opts.address : `http://${opts.address}`;
  const transport = createGrpcTransport({ baseUrl, interceptors: [authMetadata(opts.token, opts.region)] });
  return {
    agents: createClient(AgentService, transport),
    bots: createClient(BotService, transport),
    groups: createClient(GroupService, transport),
    properties: createClient(PropertyService, transport),
    webhooks: createClient(WebhookService, transport),
  };
}
