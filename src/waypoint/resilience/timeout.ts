/**
 * The timeout of one request, as Envoy's router computes it (FilterUtility::finalTimeout): the
 * route's `timeout` (0 = none), or for a gRPC request on a route with `max_grpc_timeout` its
 * `grpc-timeout` header (absent: infinite) capped at `max_grpc_timeout` (0: no cap). The
 * per-try timeout applies only when it is shorter than the whole (Envoy ignores a longer one).
 * The gRPC deadline sent upstream is the final timeout. Pure.
 */

/** `grpc-timeout` (gRPC over HTTP/2: up to 8 digits and a unit H M S m u n) in ms, rounded up; undefined if malformed. */
export function parseGrpcTimeout(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const ms = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as "H"]! * n;
  return Math.ceil(ms);
}

export interface TimeoutInput {
  readonly timeoutMs: number;
  readonly maxGrpcTimeoutMs?: number;
  readonly perTryTimeoutMs?: number;
}

export interface Timeouts {
  /** The whole request (all attempts), from the end of the downstream request; 0 = none. */
  readonly globalMs: number;
  /** Each attempt; 0 = none. */
  readonly perTryMs: number;
  /** The `grpc-timeout` header to send upstream, when the request is gRPC and has a deadline. */
  readonly grpcTimeoutHeader?: string;
}

export function requestTimeouts(a: TimeoutInput, grpc: boolean, headers: Readonly<Record<string, unknown>>): Timeouts {
  let globalMs = a.timeoutMs;
  if (grpc && a.maxGrpcTimeoutMs !== undefined) {
    let t = parseGrpcTimeout(headers["grpc-timeout"]) ?? 0;
    if (a.maxGrpcTimeoutMs > 0 && (t === 0 || t > a.maxGrpcTimeoutMs)) t = a.maxGrpcTimeoutMs;
    globalMs = t;
  }
  let perTryMs = a.perTryTimeoutMs ?? 0;
  if (globalMs > 0 && perTryMs >= globalMs) perTryMs = 0;
  return { globalMs, perTryMs, ...(grpc && globalMs > 0 ? { grpcTimeoutHeader: `${globalMs}m` } : {}) };
}
