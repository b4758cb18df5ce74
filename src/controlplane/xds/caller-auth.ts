/**
 * Authentication of a gRPC call to the control plane (ADS stream or CA request): the bearer
 * token from the `authorization` metadata, checked by the pluggable Authenticator. Failures are
 * gRPC UNAUTHENTICATED statuses with a message naming what was wrong (never the token).
 */
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { type Result, ok, err } from "../../common/result.js";
import type { Authenticator, Caller } from "../auth/authenticator.js";

export type CallError = Pick<StatusObject, "code" | "details"> & { metadata: Metadata };

export function callError(code: status, details: string): CallError {
  return { code, details, metadata: new Metadata() };
}

/** The token of `authorization: Bearer <token>`, or an error saying what is missing. */
export function bearerToken(md: Metadata): Result<string, string> {
  const values = md.get("authorization");
  if (values.length === 0) return err('missing authorization metadata (want "Bearer <token>")');
  if (values.length > 1) return err("more than one authorization metadata value");
  const v = String(values[0]);
  const m = /^Bearer\s+(\S+)$/i.exec(v.trim());
  if (!m) return err('authorization metadata is not "Bearer <token>"');
  return ok(m[1]!);
}

export async function authenticateCall(auth: Authenticator, md: Metadata): Promise<Result<Caller, CallError>> {
  const token = bearerToken(md);
  if (!token.ok) return err(callError(status.UNAUTHENTICATED, `authentication failed: ${token.error}`));
  let r: Result<Caller>;
  try {
    r = await auth.authenticate(token.value);
  } catch (e) {
    // Authenticators promise not to throw; if one does, fail closed.
    r = err(e instanceof Error ? e : new Error(String(e)));
  }
  if (!r.ok) return err(callError(status.UNAUTHENTICATED, `authentication failed: ${r.error.message}`));
  return ok(r.value);
}
