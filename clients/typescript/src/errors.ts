import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** ErrorDomain is the domain of every ErrorInfo the gateway sends. */
export const ErrorDomain = "livechatinc.com";

/** GatewayError is a failed call as the upstream reported it, decoded from the gRPC status. */
export interface GatewayError {
  /** The gRPC code. */
  code: Code;
  /**
   * The upstream's error type ("validation", "not_found", "authorization", ...): the ErrorInfo
   * reason, or, for a status without one (raised by gRPC itself), the type its code stands for.
   */
  type: string;
  /** The status message, without Connect's "[code]" prefix. */
  message: string;
  /** ErrorInfo metadata, such as http_status, action, field, or write_outcome=unknown. */
  metadata: Record<string, string>;
  /** BadRequest's field violations: which request field was refused and why. */
  fieldViolations: { field: string; description: string }[];
  /** RetryInfo's delay in milliseconds, when the call may be retried after it. */
  retryDelayMs?: number;
}

// The type a status without ErrorInfo stands for, as the gateway's REST surface reports it.
const typeOfCode: Partial<Record<Code, string>> = {
  [Code.InvalidArgument]: "validation",
  [Code.OutOfRange]: "validation",
  [Code.FailedPrecondition]: "validation",
  [Code.Unauthenticated]: "authentication",
  [Code.PermissionDenied]: "authorization",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exist",
  [Code.ResourceExhausted]: "limit_reached",
  [Code.Unimplemented]: "unsupported_version",
};

/**
 * gatewayError decodes a failed call's error details (grpc-status-details-bin). It returns
 * undefined for an error that is not a call's, such as a TypeError thrown before sending.
 */
export function gatewayError(err: unknown): GatewayError | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  const info = err.findDetails(ErrorInfoSchema)[0];
  const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  return {
    code: err.code,
    type: info?.reason || typeOfCode[err.code] || "internal",
    message: err.rawMessage,
    metadata: { ...(info?.metadata ?? {}) },
    fieldViolations: err
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description }))),
    retryDelayMs: retry ? Number(retry.seconds) * 1000 + retry.nanos / 1e6 : undefined,
  };
}
