/**
 * Certificate material a workload identity carries. Produced by the CA (src/ca),
 * fetched and renewed by ztunnel's certificate manager, consumed by the HBONE client and server.
 */
import type { Identity } from "../spiffe.js";

export interface WorkloadCertificate {
  readonly identity: Identity;
  /** PKCS#8 PEM of the ECDSA P-256 private key. Never logged, never dumped. */
  readonly keyPem: string;
  /** Leaf first, then intermediates; the root is NOT included here (see `rootsPem`). */
  readonly chainPem: readonly string[];
  /** Trust anchors of the mesh (the root(s) peers must chain to). */
  readonly rootsPem: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}
