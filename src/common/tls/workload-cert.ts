/**
 * Packaging of a CA answer (cert_chain: leaf first, root last) as the WorkloadCertificate the
 * HBONE code consumes: the chain a peer is sent (without the root) and the roots kept apart.
 * Pure.
 */
import type { Identity } from "../spiffe.js";
import type { WorkloadCertificate } from "./types.js";

export function toWorkloadCertificate(
  identity: Identity,
  keyPem: string,
  certChain: readonly string[],
  rootsPem: readonly string[],
  window: { notBefore: Date; notAfter: Date },
): WorkloadCertificate {
  const last = certChain[certChain.length - 1];
  const chainPem = certChain.length > 1 && last !== undefined && rootsPem.includes(last) ? certChain.slice(0, -1) : [...certChain];
  return { identity, keyPem, chainPem, rootsPem: [...rootsPem], notBefore: window.notBefore, notAfter: window.notAfter };
}
