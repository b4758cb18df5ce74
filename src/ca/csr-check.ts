/**
 * Admission of a certificate signing request: parse, key type, self-signature (checked with
 * Node's crypto over the DER parts, see der.ts). The CA signs
 * only what passes. The CSR's own subject and SANs are never read, never copied into the
 * certificate: like istiod (which builds the SAN from the authenticated caller's identities and
 * ignores the CSR's), the SAN comes from the authorised identity the caller passes to `sign`.
 * A CSR can therefore ask for anything and still only get what its caller may have.
 */
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { type Result, ok, err } from "../common/result.js";
import { splitPem } from "../common/tls/pem.js";
import { pkcs10Parts } from "../common/tls/der.js";
import { CaError } from "./errors.js";

/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2) and ecdsa-with-SHA384 (.3), OID content bytes in hex. */
const ECDSA_SIGNATURE_OIDS = new Map([
  ["2a8648ce3d040302", "sha256"],
  ["2a8648ce3d040303", "sha384"],
]);

export interface CheckedCsr {
  /** The requester's public key, to be certified. */
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER of that key. */
  readonly spki: Buffer;
}

/** Accepts exactly one PEM "CERTIFICATE REQUEST" with an ECDSA P-256 key and a valid signature. */
export async function checkCsr(csrPem: string): Promise<Result<CheckedCsr, CaError>> {
  if (typeof csrPem !== "string" || csrPem.length === 0) return err(new CaError("CA_BAD_CSR", "csr: empty"));
  if (csrPem.length > 64 * 1024) return err(new CaError("CA_BAD_CSR", `csr: ${csrPem.length} bytes, limit 65536`));
  const blocks = splitPem(csrPem);
  if (!blocks.ok) return err(new CaError("CA_BAD_CSR", `csr: ${blocks.error.message}`, { cause: blocks.error }));
  if (blocks.value.length !== 1) return err(new CaError("CA_BAD_CSR", `csr: ${blocks.value.length} pem blocks, want exactly one`));
  const block = blocks.value[0]!;
  if (block.label !== "CERTIFICATE REQUEST" && block.label !== "NEW CERTIFICATE REQUEST") {
    return err(new CaError("CA_BAD_CSR", `csr: pem block ${JSON.stringify(block.label)}, want CERTIFICATE REQUEST`));
  }

  const parts = pkcs10Parts(block.der);
  if (!parts) return err(new CaError("CA_BAD_CSR", "csr: not a der-encoded pkcs#10 request"));

  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: parts.spki, format: "der", type: "spki" });
  } catch (e) {
    return err(new CaError("CA_BAD_KEY", `csr: unsupported public key: ${(e as Error).message}`, { cause: e }));
  }
  const type = publicKey.asymmetricKeyType;
  const curve = publicKey.asymmetricKeyDetails?.namedCurve;
  if (type !== "ec" || curve !== "prime256v1") {
    const what = type === "ec" ? `ec ${curve}` : type === "rsa" ? `rsa ${publicKey.asymmetricKeyDetails?.modulusLength}` : String(type);
    return err(new CaError("CA_BAD_KEY", `csr: public key is ${what}, want ecdsa p-256`));
  }

  const hash = ECDSA_SIGNATURE_OIDS.get(parts.signatureOid.toString("hex"));
  if (!hash)
    return err(
      new CaError("CA_BAD_CSR", `csr: signature algorithm oid ${parts.signatureOid.toString("hex")} is not ecdsa-with-sha256/384`),
    );
  let valid: boolean;
  try {
    valid = verify(hash, parts.tbs, publicKey, parts.signature);
  } catch (e) {
    return err(new CaError("CA_BAD_CSR", `csr: signature check failed: ${(e as Error).message}`, { cause: e }));
  }
  if (!valid) return err(new CaError("CA_BAD_CSR", "csr: signature does not verify with the request's own key"));
  return ok({ publicKey, spki: Buffer.from(parts.spki) });
}
