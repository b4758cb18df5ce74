/**
 * Workload key and certificate signing request generation (the ztunnel side of
 * IstioCertificateService.CreateCertificate). Keys are ECDSA P-256 and are exported as PKCS#8
 * PEM, the form node:tls accepts directly. The CSR carries the SPIFFE URI SAN the workload
 * asks for; the CA does not trust it (it sets the SAN from the caller's authorised identity)
 * but it documents intent and lets a CA-side mismatch be logged.
 */
import type { Identity } from "../spiffe.js";
import { toUri } from "../spiffe.js";
import { ECDSA_P256, generateP256, privateKeyPem, x509 } from "./x509.js";

export interface KeyAndCsr {
  /** PKCS#8 PEM of the new private key; never leaves the process that generated it. */
  readonly keyPem: string;
  /** PKCS#10 PEM ("CERTIFICATE REQUEST"), self-signed with the new key. */
  readonly csrPem: string;
}

/** A fresh P-256 key and a CSR for `id` (empty subject, one URI SAN, signed ECDSA-SHA256). */
export async function generateKeyAndCsr(id: Identity): Promise<KeyAndCsr> {
  const keys = await generateP256();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ECDSA_P256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: toUri(id) }])],
  });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString("pem") };
}
