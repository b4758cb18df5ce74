/**
 * Fault injection, as Envoy's fault filter (envoy.filters.http.fault) applies a route's HTTPFault:
 * first a fixed delay for `delay.percentage` of requests, then an abort for
 * `abort.percentage` (each its own draw; an unset percentage is 0%, Envoy's and therefore
 * Istio's actual behaviour). An abort answers locally: HTTP `http_status` with body
 * `fault filter abort`, or for a gRPC request a trailers-only answer whose grpc-status is
 * `grpc_status` (or the HTTP status mapped as gRPC's spec maps it). Response flags: DI delay,
 * FI abort. Pure; `random` is injected.
 */
import type { FaultPolicy } from "../envoy/types.js";

export interface FaultDecision {
  readonly delayMs: number;
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number };
}

export const FAULT_ABORT_BODY = "fault filter abort";

export function decideFault(f: FaultPolicy | undefined, random: () => number): FaultDecision {
  if (!f) return { delayMs: 0 };
  const delayMs = f.delay && f.delay.fraction > 0 && random() < f.delay.fraction ? f.delay.fixedMs : 0;
  const a = f.abort;
  if (!a || !(a.fraction > 0 && random() < a.fraction)) return { delayMs };
  return {
    delayMs,
    abort: {
      ...(a.httpStatus !== undefined ? { httpStatus: a.httpStatus } : {}),
      ...(a.grpcStatus !== undefined ? { grpcStatus: a.grpcStatus } : {}),
    },
  };
}

/** HTTP status -> gRPC status (gRPC's "HTTP to gRPC Status Code Mapping", as Envoy applies it to local replies). */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/** The headers of a trailers-only gRPC local reply (`:status` 200; the message percent-encoded as gRPC requires). */
export function grpcLocalReply(grpcStatus: number, message: string): Record<string, string | number> {
  return {
    ":status": 200,
    "content-type": "application/grpc",
    "grpc-status": String(grpcStatus),
    "grpc-message": grpcPercentEncode(message),
  };
}

/** gRPC's percent-encoding of grpc-message: bytes outside printable ASCII, and `%`, become %XX. */
export function grpcPercentEncode(s: string): string {
  let out = "";
  for (const b of Buffer.from(s))
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}
