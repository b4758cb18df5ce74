/**
 * Test bed for the xDS and CA integration tests: a control plane gRPC server over TLS on
 * 127.0.30.x with a certificate from a real test PKI, a raw delta ADS client that records every
 * response (to check exactly what goes on the wire), and builders. No fakes of the code under
 * test; the fakes are `FakeNodeAuthorizer` (a table instead of the control plane's pod model) and
 * `FakePushCounter` (records what the server reports sending).
 */
import { Client, Metadata, type ClientDuplexStream, type ServiceError, credentials } from "@grpc/grpc-js";
import { identity } from "../../src/common/spiffe.js";
import { issueWorkloadCertificate } from "../../src/ca/issue.js";
import { type DeltaRequest, type IncomingDeltaResponse, deltaAdsClientMethod } from "../../src/common/xds/delta-wire.js";
import { AdsServer } from "../../src/controlplane/xds/ads-server.js";
import type { XdsMetrics } from "../../src/controlplane/xds/metrics.js";
import { BootstrapTokenAuthenticator } from "../../src/controlplane/xds/bootstrap-tokens.js";
import { type ControlPlaneServer, startControlPlaneServer } from "../../src/controlplane/xds/grpc-server.js";
import { ResourceStore } from "../../src/controlplane/xds/resource-store.js";
import { addressKind, authorizationKind } from "../../src/controlplane/xds/resource-kind.js";
import { CaService, type NodeAuthorizer } from "../../src/controlplane/ca-service/ca-service.js";
import { checkControlPlaneSan } from "../../src/proxy/xds/channel.js";
import { type TestPki, makeTestPki } from "../support/pki.js";

export const CP_SAN = "spiffe://cluster.local/ns/istio-system/sa/istiod";
export const TOKEN_A = "token-node-a-0123456789";
export const TOKEN_B = "token-node-b-0123456789";
export const NODE_ID_A = "ztunnel~127.0.30.10~ztunnel-a.istio-system~istio-system.svc.cluster.local";

/** A recorder of the ADS server's metrics hooks: counts the responses it actually sent, per type URL. */
export class FakePushCounter implements XdsMetrics {
  readonly pushes = new Map<string, number>();
  readonly resources = new Map<string, number>();
  clientConnected(): void {}
  clientDisconnected(): void {}
  pushed(typeUrl: string, resources: number, removals: number): void {
    this.pushes.set(typeUrl, (this.pushes.get(typeUrl) ?? 0) + 1);
    this.resources.set(typeUrl, (this.resources.get(typeUrl) ?? 0) + resources + removals);
  }
  nacked(): void {}
  count(typeUrl: string): number {
    return this.pushes.get(typeUrl) ?? 0;
  }
}

export class FakeNodeAuthorizer implements NodeAuthorizer {
  constructor(private readonly pods: Record<string, string[]>) {}
  mayIssue(node: string, id: string): boolean {
    return (this.pods[node] ?? []).includes(id);
  }
}

export interface Bed {
  readonly pki: TestPki;
  readonly store: ResourceStore;
  readonly ads: AdsServer;
  readonly server: ControlPlaneServer;
  readonly address: string;
  close(): Promise<void>;
}

let pkiPromise: Promise<TestPki> | undefined;
export function sharedPki(): Promise<TestPki> {
  return (pkiPromise ??= makeTestPki());
}

export async function startBed(
  opts: {
    host?: string;
    port?: number;
    store?: ResourceStore;
    debounceMs?: number;
    maxResponseBytes?: number;
    maxConcurrentInitialPushes?: number;
    pods?: Record<string, string[]>;
    /** Hooks the ADS server reports every response to (e.g. a FakePushCounter). */
    metrics?: XdsMetrics;
    /** The server's certificate; default: the mesh CA's istiod certificate (1 h). */
    serverCert?: (pki: TestPki) => Promise<{ keyPem: string; chainPem: readonly string[] }>;
  } = {},
): Promise<Bed> {
  const pki = await sharedPki();
  const store = opts.store ?? new ResourceStore([addressKind, authorizationKind]);
  const authenticator = new BootstrapTokenAuthenticator([
    { token: TOKEN_A, node: "node-a", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
    { token: TOKEN_B, node: "node-b", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
  ]);
  const ads = new AdsServer({
    store,
    authenticator,
    debounceMs: opts.debounceMs ?? 10,
    ...(opts.maxResponseBytes ? { maxResponseBytes: opts.maxResponseBytes } : {}),
    ...(opts.maxConcurrentInitialPushes ? { maxConcurrentInitialPushes: opts.maxConcurrentInitialPushes } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  const cert = opts.serverCert
    ? await opts.serverCert(pki)
    : await issueWorkloadCertificate(pki.ca, identity("cluster.local", "istio-system", "istiod"), 3600);
  const ca = new CaService({ authenticator, nodeAuthorizer: new FakeNodeAuthorizer(opts.pods ?? {}), signer: pki.ca });
  const host = opts.host ?? "127.0.30.1";
  const server = await startControlPlaneServer({
    host,
    port: opts.port ?? 0,
    tls: { keyPem: cert.keyPem, chainPem: cert.chainPem },
    ads,
    ca,
  });
  return { pki, store, ads, server, address: `${host}:${server.port}`, close: () => server.close(50) };
}

/** Polls `cond` every 10 ms until it holds; throws naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function tlsCredentials(pki: TestPki) {
  return credentials.createSsl(Buffer.from(pki.rootsPem.join("")), null, null, {
    checkServerIdentity: (_h, c) => checkControlPlaneSan(CP_SAN, c),
  });
}

/** A delta ADS stream that records responses; `next()` waits for the next one. */
export class RawAdsClient {
  readonly client: Client;
  readonly stream: ClientDuplexStream<DeltaRequest, IncomingDeltaResponse>;
  private readonly queue: IncomingDeltaResponse[] = [];
  private waiter: (() => void) | undefined;
  error: ServiceError | undefined;
  ended = false;

  constructor(bed: Bed, token: string | null = TOKEN_A) {
    this.client = new Client(bed.address, tlsCredentials(bed.pki));
    const md = new Metadata();
    if (token !== null) md.set("authorization", `Bearer ${token}`);
    this.stream = this.client.makeBidiStreamRequest(
      deltaAdsClientMethod.path,
      deltaAdsClientMethod.requestSerialize,
      deltaAdsClientMethod.responseDeserialize,
      md,
    );
    this.stream.on("data", (r: IncomingDeltaResponse) => {
      this.queue.push(r);
      this.waiter?.();
    });
    this.stream.on("error", (e: ServiceError) => {
      this.error = e;
      this.waiter?.();
    });
    this.stream.on("end", () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  send(r: Partial<DeltaRequest> & { typeUrl: string }, nodeId = NODE_ID_A): void {
    this.stream.write({ node: { id: nodeId, cluster: "" }, subscribe: [], unsubscribe: [], initialVersions: {}, responseNonce: "", ...r });
  }

  ack(resp: IncomingDeltaResponse, errorDetail?: { code: number; message: string }): void {
    this.send({ typeUrl: resp.typeUrl, responseNonce: resp.nonce, ...(errorDetail ? { errorDetail } : {}) });
  }

  /** The next response, or throws after `ms`. */
  async next(ms = 2000): Promise<IncomingDeltaResponse> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.error) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no xds response within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Asserts that nothing arrives within `ms`. */
  async quiet(ms = 150): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length)
      throw new Error(
        `unexpected xds response: ${JSON.stringify(this.queue.map((q) => ({ n: q.resources.map((r) => r.name), rm: q.removed })))}`,
      );
  }

  /** Waits for the stream's error status. */
  async failure(ms = 2000): Promise<ServiceError> {
    const deadline = Date.now() + ms;
    while (!this.error && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (!this.error) throw new Error("stream did not fail");
    return this.error;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}
