/**
 * The HBONE error family: stable codes for programs (metrics' response_flags, tests), lowercase
 * colon-chained messages for operators, the transport error chained as `cause`. Transport
 * failures are mapped to codes here and nowhere else.
 */
import { CodedError } from "../../common/coded-error.js";
export type HboneErrorCode =
  /** TCP connect did not finish within the connect timeout. */
  | "HBONE_CONNECT_TIMEOUT"
  /** TCP connect failed (refused, unreachable, bind failure of the source address). */
  | "HBONE_CONNECT_FAILED"
  /** TLS handshake failed or timed out, or the peer's certificate did not verify. */
  | "HBONE_TLS"
  /** The peer's SPIFFE identity is not one we accept (wrong SAN or trust domain). */
  | "HBONE_IDENTITY"
  /** The peer did not negotiate ALPN h2. */
  | "HBONE_ALPN"
  /** The server answered the CONNECT with a non-200 status (`status` is set). */
  | "HBONE_STATUS"
  /** The stream was reset or the session went away before the CONNECT was answered. */
  | "HBONE_STREAM"
  /** The pool or server is shut down. */
  | "HBONE_CLOSED";

export class HboneError extends CodedError<HboneErrorCode> {
  override readonly name = "HboneError";
  constructor(code: HboneErrorCode, message: string, options?: { cause?: unknown; status?: number; refusedStream?: boolean }) {
    super(code, message, options);
    if (options?.status !== undefined) this.status = options.status;
    if (options?.refusedStream) this.refusedStream = true;
  }
  /** HTTP status of an HBONE_STATUS failure. */
  readonly status?: number;
  /**
   * HBONE_STREAM: the server reset the CONNECT with REFUSED_STREAM before answering, i.e. it did
   * not process it (RFC 9113 §8.7: safe to retry, e.g. on another connection).
   */
  readonly refusedStream?: true;
}

const HINT_15008 = "maybe a NetworkPolicy or firewall is blocking HBONE port 15008";

/** Maps a TCP connect error to the family, with an operator hint. */
export function connectError(target: string, e: unknown): HboneError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const msg = (e as Error | undefined)?.message ?? String(e);
  const hint = code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH" ? `, ${HINT_15008}` : "";
  return new HboneError("HBONE_CONNECT_FAILED", `hbone: connect ${target}: ${msg}${hint}`, { cause: e });
}

export function connectTimeout(target: string, ms: number): HboneError {
  return new HboneError("HBONE_CONNECT_TIMEOUT", `hbone: connect ${target}: timed out after ${ms} ms, ${HINT_15008}`);
}

export function tlsError(target: string, e: unknown): HboneError {
  if (e instanceof HboneError) return e;
  const msg = (e as Error | undefined)?.message ?? String(e);
  return new HboneError("HBONE_TLS", `hbone: tls with ${target}: ${msg}`, { cause: e });
}
