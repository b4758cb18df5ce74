/**
 * Admission of a certificate signing request: parse, key type, self-signature. The CA signs
 * only what passes. The CSR's own subject and SANs are reported but never copied into the
 * certificate: like istiod (which builds the SAN from the authenticated caller's identities and
 * ignores the CSR's), the SAN comes from the authorised identity the caller passes to `sign`.
 * A CSR can therefore ask for anything and still only get what its caller may have.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { type Result, ok, err } from "../../common/result.js";
import { splitPem } from "../../common/tls/pem.js";
import { x509 } from "../../common/tls/x509.js";
import { CaError } from "./errors.js";

export interface CheckedCsr {
  /** The requester's public key, to be certified. */
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER of that key. */
  readonly spki: Buffer;
  /** URI SANs the CSR asked for (informational: compared with the granted identity for logs). */
  readonly requestedUris: readonly string[];
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

  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  let spki: Buffer;
  try {
    csr = new x509.Pkcs10CertificateRequest(block.der);
    spki = Buffer.from(csr.publicKey.rawData);
  } catch (e) {
    return err(new CaError("CA_BAD_CSR", `csr: not a pkcs#10 request: ${(e as Error).message}`, { cause: e }));
  }

  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (e) {
    return err(new CaError("CA_BAD_KEY", `csr: unsupported public key: ${(e as Error).message}`, { cause: e }));
  }
  const type = publicKey.asymmetricKeyType;
  const curve = publicKey.asymmetricKeyDetails?.namedCurve;
  if (type !== "ec" || curve !== "prime256v1") {
    const what = type === "ec" ? `ec ${curve}` : type === "rsa" ? `rsa ${publicKey.asymmetricKeyDetails?.modulusLength}` : String(type);
    return err(new CaError("CA_BAD_KEY", `csr: public key is ${what}, want ecdsa p-256`));
  }

  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (e) {
    return err(new CaError("CA_BAD_CSR", `csr: signature check failed: ${(e as Error).message}`, { cause: e }));
  }
  if (!valid) return err(new CaError("CA_BAD_CSR", "csr: signature does not verify with the request's own key"));

  const requestedUris: string[] = [];
  try {
    const san = csr.getExtension("2.5.29.17");
    if (san instanceof x509.SubjectAlternativeNameExtension) {
      for (const n of san.names.items) if (n.type === "url") requestedUris.push(n.value);
    }
  } catch {
    // An unparsable SAN in the request is harmless: it is never copied into the certificate.
  }
  return ok({ publicKey, spki, requestedUris });
}
