/**
 * Error family of ztunnel's certificate manager. Stable codes; lowercase colon-chained
 * messages; the CA's or verifier's error is the `cause`.
 */
import { CodedError } from "../../common/coded-error.js";
export type IdentityErrorCode =
  /** The CA call failed (transport error or the CA refused). */
  | "IDENTITY_FETCH"
  /** The CA returned a certificate for another identity or another key. */
  | "IDENTITY_MISMATCH"
  /** The returned chain does not verify against the configured roots. */
  | "IDENTITY_CHAIN"
  /** The identity was forgotten while its certificate was being fetched. */
  | "IDENTITY_FORGOTTEN"
  /** The manager is closed. */
  | "IDENTITY_CLOSED";

export class IdentityError extends CodedError<IdentityErrorCode> {
  override readonly name = "IdentityError";
}
