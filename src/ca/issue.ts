/**
 * In-process issuance for tests and local mode: generate a key and CSR, have the CA sign it,
 * and package the result as the WorkloadCertificate the HBONE code consumes (chain without the
 * root; roots separately).
 */
import type { Identity } from "../common/spiffe.js";
import { generateKeyAndCsr } from "../common/tls/csr.js";
import type { WorkloadCertificate } from "../common/tls/types.js";
import { parseCertificate, validity } from "../common/tls/verify.js";
import { toWorkloadCertificate } from "../common/tls/workload-cert.js";
import type { CertificateAuthority } from "./ca.js";

/**
 * Issues a certificate for `identity` from `ca`. Throws only on programming errors (an identity
 * outside the CA's trust domain, a TTL above its maximum): in-process callers choose both.
 */
export async function issueWorkloadCertificate(
  ca: CertificateAuthority,
  identity: Identity,
  ttlSeconds?: number,
): Promise<WorkloadCertificate> {
  const { keyPem, csrPem } = await generateKeyAndCsr(identity);
  const signed = await ca.sign(csrPem, { identity, ttlSeconds });
  if (!signed.ok) throw signed.error;
  // The window comes from the leaf itself. No verification here: a CA built withClock() in
  // the past deliberately yields certificates that are already expired (tests).
  const leaf = parseCertificate(signed.value[0]!, "issued leaf");
  if (!leaf.ok) throw leaf.error;
  return toWorkloadCertificate(identity, keyPem, signed.value, ca.rootsPem, validity(leaf.value));
}
