/**
 * The CA's error family. Codes are stable (tests, metrics, and the gRPC server maps them to
 * status codes in one place: CA_BAD_CSR/CA_BAD_KEY/CA_TTL/CA_IDENTITY are the caller's fault,
 * INVALID_ARGUMENT; CA_LOAD/CA_PERSIST/CA_SIGN are ours, INTERNAL). Messages are lowercase
 * and colon-chained; the underlying error, when there is one, is the `cause`.
 */
import { CodedError } from "../common/coded-error.js";
export type CaErrorCode =
  /** The CSR is not a parsable PKCS#10 request or its self-signature does not verify. */
  | "CA_BAD_CSR"
  /** The CSR's public key is not ECDSA P-256. */
  | "CA_BAD_KEY"
  /** The requested TTL is not a positive number or exceeds the configured maximum. */
  | "CA_TTL"
  /** The identity to certify is outside this CA's trust domain. */
  | "CA_IDENTITY"
  /** Signing material (root or cacerts files) missing, unparsable or inconsistent. */
  | "CA_LOAD"
  /** Writing the signing material to disk failed. */
  | "CA_PERSIST"
  /** The crypto provider failed while signing (should not happen with valid material). */
  | "CA_SIGN";

export class CaError extends CodedError<CaErrorCode> {
  override readonly name = "CaError";
}

/** Whether the error is the requester's fault (maps to INVALID_ARGUMENT) rather than the CA's. */
export function isCallerError(e: CaError): boolean {
  return e.code === "CA_BAD_CSR" || e.code === "CA_BAD_KEY" || e.code === "CA_TTL" || e.code === "CA_IDENTITY";
}
