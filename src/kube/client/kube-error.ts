/**
 * The error family of every call weft makes to an API server, with stable codes: `transport`
 * (no answer: refused, reset, TLS, a failing credential plugin), `timeout` (no complete answer
 * within the per-request bound, kube-request-timeout.ts), `status` (an error answer; HTTP code
 * and the Status `reason` kept), `decode` (not JSON), `aborted` (the caller's signal).
 */

export type KubeErrorCode = "transport" | "timeout" | "status" | "decode" | "aborted";

export class KubeError extends Error {
  constructor(
    readonly code: KubeErrorCode,
    message: string,
    /** HTTP status (for `status`), or the `code` of a watch ERROR event's Status. */
    readonly httpStatus?: number,
    /** The Status `reason` (e.g. `NotFound`, `Expired`, `Gone`) when the server sent one. */
    readonly reason?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KubeError";
  }
}

/** Whether `e`, or an error it was chained from, is a request that hit the per-request timeout. */
export function isRequestTimeout(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 4; c = c.cause, depth++)
    if (c instanceof KubeError && c.code === "timeout") return true;
  return false;
}
