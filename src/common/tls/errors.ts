/**
 * The error family of certificate checks (SAN parsing, chain verification). Codes are stable
 * and meant for programs (metrics labels, tests); messages are lowercase, colon-chained, for
 * operators.
 */
import { CodedError } from "../coded-error.js";
export type CertErrorCode =
  /** Not a parsable X.509 certificate / PEM. */
  | "CERT_PARSE"
  /** Missing, duplicate or malformed SPIFFE URI SAN. */
  | "CERT_SAN"
  /** now > notAfter of some certificate in the chain. */
  | "CERT_EXPIRED"
  /** now < notBefore of some certificate in the chain. */
  | "CERT_NOT_YET_VALID"
  /** A link of the chain is not issued/signed by the next certificate. */
  | "CERT_CHAIN"
  /** The chain does not end at one of the trust anchors. */
  | "CERT_UNTRUSTED"
  /** Basic constraints / key usage wrong for the position (CA flag on a leaf, none on an issuer). */
  | "CERT_USAGE";

export class CertError extends CodedError<CertErrorCode> {
  override readonly name = "CertError";
}
