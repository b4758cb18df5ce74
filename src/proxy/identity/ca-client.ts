/**
 * How ztunnel obtains certificates: one call per CSR, mirroring
 * istio.v1.auth.IstioCertificateService/CreateCertificate (the gRPC implementation lives with
 * the control-plane client code and implements this interface). `identity` is the identity
 * ztunnel asks for on behalf of a local pod (sent as metadata.ImpersonatedIdentity); the CA
 * decides whether to grant it. The result is cert_chain: leaf first, root last.
 */
import type { Result } from "../../common/result.js";
import type { Identity } from "../../common/spiffe.js";
import type { CertificateAuthority } from "../../ca/ca.js";

export interface CaClient {
  createCertificate(csrPem: string, identity: Identity, ttlSeconds: number): Promise<Result<string[]>>;
}

/**
 * A CaClient over an in-process CA (local mode, tests). There is no caller to authenticate, so
 * every identity of the CA's trust domain is granted; the CA still enforces CSR and TTL rules.
 */
export class LocalCaClient implements CaClient {
  constructor(private readonly ca: CertificateAuthority) {}

  createCertificate(csrPem: string, identity: Identity, ttlSeconds: number): Promise<Result<string[]>> {
    return this.ca.sign(csrPem, { identity, ttlSeconds });
  }

  /** The CA's trust anchors, to configure the certificate manager's `rootsPem`. */
  get rootsPem(): readonly string[] {
    return this.ca.rootsPem;
  }
}
