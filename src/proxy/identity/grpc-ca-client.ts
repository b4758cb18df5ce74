/**
 * The gRPC CaClient (interface: src/proxy/identity/ca-client.ts): calls
 * IstioCertificateService/CreateCertificate on the control plane with the bearer token and
 * `metadata.ImpersonatedIdentity` set to the pod identity ztunnel asks for. Transport and
 * refusal errors become `err` values naming the identity and the gRPC status; the returned
 * chain is checked for shape here (non-empty, PEM certificates), its SAN and signature by the
 * certificate manager.
 */
import { Client, type ServiceError, status } from "@grpc/grpc-js";
import { type Result, ok, err } from "../../common/result.js";
import { type Identity, toUri } from "../../common/spiffe.js";
import { IMPERSONATED_IDENTITY, createCertificateMethod, type CertificateResponse } from "../../common/xds/ca-wire.js";
import type { CaClient } from "./ca-client.js";
import { type ControlPlaneTarget, authMetadata, channelOptions, controlPlaneCredentials } from "../xds/channel.js";

export interface GrpcCaClientOptions {
  readonly target: ControlPlaneTarget;
  /** Per-call deadline. Default 10 s. */
  readonly timeoutMs?: number;
  /** Sent as the `clusterid` header, as ztunnel does. */
  readonly clusterId?: string;
}

export class GrpcCaClient implements CaClient {
  private readonly client: Client;

  constructor(private readonly opts: GrpcCaClientOptions) {
    this.client = new Client(opts.target.address, controlPlaneCredentials(opts.target), channelOptions(opts.target));
  }

  async createCertificate(csrPem: string, identity: Identity, ttlSeconds: number): Promise<Result<string[]>> {
    const uri = toUri(identity);
    let md;
    try {
      md = await authMetadata(this.opts.target, this.opts.clusterId ? { clusterid: this.opts.clusterId } : {});
    } catch (e) {
      return err(new Error(`ca: ${uri}: token: ${(e as Error).message}`, { cause: e }));
    }
    const deadline = new Date(Date.now() + (this.opts.timeoutMs ?? 10_000));
    const resp = await new Promise<Result<CertificateResponse, ServiceError>>((resolve) => {
      this.client.makeUnaryRequest(
        createCertificateMethod.path,
        createCertificateMethod.requestSerialize,
        createCertificateMethod.responseDeserialize,
        { csr: csrPem, validityDuration: ttlSeconds, metadata: { [IMPERSONATED_IDENTITY]: uri } },
        md,
        { deadline },
        (e, v) => resolve(e || !v ? err(e ?? ({ code: status.INTERNAL, details: "empty response" } as ServiceError)) : ok(v)),
      );
    });
    if (!resp.ok)
      return err(new Error(`ca: ${uri}: ${status[resp.error.code] ?? resp.error.code}: ${resp.error.details}`, { cause: resp.error }));
    const chain = resp.value.certChain;
    if (chain.length === 0) return err(new Error(`ca: ${uri}: empty cert_chain`));
    const bad = chain.findIndex((c) => !c.includes("-----BEGIN CERTIFICATE-----"));
    if (bad >= 0) return err(new Error(`ca: ${uri}: cert_chain[${bad}] is not a PEM certificate`));
    return ok([...chain]);
  }

  close(): void {
    this.client.close();
  }
}
