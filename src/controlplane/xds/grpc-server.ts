/**
 * The control plane's gRPC endpoint (default port 15012, TLS): delta ADS and, when a CA
 * service is given, IstioCertificateService on the same server, as istiod serves both.
 * TLS: the server presents a certificate from the mesh CA; clients are not asked for a
 * certificate (they authenticate with bearer tokens, and on first start they have none).
 * Binds before returning, so a taken port fails startup loudly.
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { logger } from "../../common/log.js";
import { ADS_SERVICE, deltaAdsServerMethod } from "../../common/xds/delta-wire.js";
import { createCertificateMethod } from "../../common/xds/ca-wire.js";
import type { CaService } from "../ca-service/ca-service.js";
import type { AdsServer } from "./ads-server.js";

const log = logger("controlplane.grpc");

export const DEFAULT_XDS_PORT = 15012;

export interface ServerTls {
  /** PKCS#8 PEM key of the control plane. */
  readonly keyPem: string;
  /** Leaf first, then intermediates. */
  readonly chainPem: readonly string[];
}

export interface ControlPlaneServerOptions {
  readonly host?: string;
  /** 0 picks an ephemeral port. Default 15012. */
  readonly port?: number;
  /** Omit only for tests that exercise plaintext on loopback. */
  readonly tls?: ServerTls;
  readonly ads: AdsServer;
  readonly ca?: CaService;
}

export interface ControlPlaneServer {
  readonly port: number;
  /** Stops accepting, ends streams; forced after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

export async function startControlPlaneServer(o: ControlPlaneServerOptions): Promise<ControlPlaneServer> {
  const server = new Server({ "grpc.max_send_message_length": -1, "grpc.keepalive_time_ms": 30_000 });
  const adsDef: ServiceDefinition = { DeltaAggregatedResources: deltaAdsServerMethod } as unknown as ServiceDefinition;
  server.addService(adsDef, { DeltaAggregatedResources: o.ads.handler } as UntypedServiceImplementation);
  if (o.ca) {
    const caDef = { CreateCertificate: createCertificateMethod } as unknown as ServiceDefinition;
    server.addService(caDef, { CreateCertificate: o.ca.handler } as UntypedServiceImplementation);
  }
  const creds = o.tls
    ? ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(o.tls.keyPem), cert_chain: Buffer.from(o.tls.chainPem.join("")) }],
        false,
      )
    : ServerCredentials.createInsecure();
  const host = o.host ?? "0.0.0.0";
  const address = host.includes(":") ? `[${host}]:${o.port ?? DEFAULT_XDS_PORT}` : `${host}:${o.port ?? DEFAULT_XDS_PORT}`;
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (e, p) => (e ? reject(e) : resolve(p))));
  log.info(
    { address: `${host}:${port}`, tls: !!o.tls, services: [ADS_SERVICE, ...(o.ca ? ["istio.v1.auth.IstioCertificateService"] : [])] },
    "control plane grpc listening",
  );
  return {
    port,
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        o.ads.close();
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
