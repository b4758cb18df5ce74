/**
 * Assembles the control plane: a config source (folder of YAML or the Kubernetes API) feeds
 * the config store; the mesh model translates it into Workloads and Services, the policy
 * pipeline into Authorizations, the waypoint pipeline into each waypoint's Envoy resources; all
 * land in the xDS resource store that the delta ADS server pushes to ztunnels and waypoints;
 * the CA service signs workload certificates for pods on the caller's node, and a workload
 * caller's own. Monitoring (ready, metrics, config dump) on one port.
 */
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics } from "prom-client";
import { logger } from "../common/log.js";
import { identity, parseUri, toUri } from "../common/spiffe.js";
import { type Result, ok, err } from "../common/result.js";
import { generateKeyAndCsr } from "../common/tls/csr.js";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../common/xds/proto.js";
import type { AddressResource } from "../common/xds/address-codec.js";
import { AdminServers, adminRoutes, metricsRoutes } from "../common/admin/servers.js";
import type { ControlPlaneConfig } from "./config.js";
import { CertificateAuthority } from "../ca/ca.js";
import { ConfigStore } from "./model/store.js";
import { MeshModel } from "./model/mesh.js";
import { type TranslateConfig, translateConfig } from "./translate/translate-config.js";
import type { ConfigSource } from "../kube/source.js";
import { FileSource } from "../kube/folder/file-source.js";
import { KubeSource } from "../kube/client/kube-source.js";
import { inClusterConfig, loadKubeconfig } from "../kube/client/kube-config.js";
import { objectValidator } from "../kube/validate/validate.js";
import { TokenReviewAuthenticator } from "./auth/tokenreview.js";
import type { Authenticator } from "./auth/authenticator.js";
import { BootstrapTokenAuthenticator } from "./xds/bootstrap-tokens.js";
import { ResourceStore } from "./xds/resource-store.js";
import { addressKind, authorizationKind } from "./xds/resource-kind.js";
import { envoyKinds } from "./xds/envoy-kinds.js";
import { WaypointPipeline } from "./waypoints.js";
import { WaypointAuthz } from "./waypoint-authz.js";
import { JwksResolver } from "./jwks-resolver.js";
import { MeshConfigWatcher, meshSourceFor } from "./mesh-config-watch.js";
import { AdsServer } from "./xds/ads-server.js";
import { promXdsMetrics } from "./xds/metrics.js";
import { type ControlPlaneServer, startControlPlaneServer } from "./xds/grpc-server.js";
import { CaService } from "./ca-service/ca-service.js";
import { gatewayControllerFor, type GatewayController } from "./gateway/wiring.js";
import {
  AUTHZ_KIND,
  PEERAUTHN_KIND,
  authorizations,
  policyBinder,
  policyErrors,
  policyValidator,
  type PolicySettings,
} from "./policies.js";

const log = logger("controlplane");

/** The identity the control plane's serving certificate carries (istiod's). */
export function controlPlaneIdentity(trustDomain: string, rootNamespace: string): string {
  return toUri(identity(trustDomain, rootNamespace, "istiod"));
}

export class ControlPlane {
  readonly registry = new Registry();
  readonly store: ConfigStore;
  readonly mesh: MeshModel;
  readonly resources = new ResourceStore([
    addressKind as never,
    authorizationKind as never,
    ...(envoyKinds as unknown as readonly never[]),
  ]);
  readonly ads: AdsServer;
  readonly waypoints: WaypointPipeline;
  private readonly source: ConfigSource;
  private readonly settings: PolicySettings;
  private readonly tcfg: TranslateConfig;
  /** RequestAuthentication jwksUri keys, fetched by the control plane (istiod's default). */
  private readonly jwks = new JwksResolver();
  /** The mesh config's source, watched: a change reaches the waypoints without a restart. */
  readonly meshConfig: MeshConfigWatcher;
  private readonly admin = new AdminServers();
  private server: ControlPlaneServer | undefined;
  private monitor: AddressInfo | undefined;
  private ca: CertificateAuthority | undefined;
  /** Kubernetes mode: waypoint Deployments and Gateway API status (gateway/). */
  gateways: GatewayController | undefined;
  private stopped = false;

  constructor(
    readonly config: ControlPlaneConfig,
    private readonly authenticator: Authenticator,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.settings = {
      rootNamespace: config.rootNamespace,
      trustDomain: config.trustDomain,
      l4Mode: config.authzL4Mode,
      revision: config.revision,
      autoAllowWaypoint: config.autoAllowWaypointPolicy,
    };
    this.store = new ConfigStore();
    // The folder is strict about unknown fields; an API server may be newer than our schemas.
    this.source = config.configDir
      ? new FileSource({ dir: config.configDir, validate: policyValidator(this.settings, objectValidator()) })
      : new KubeSource({
          config: kubeClientConfig(config.kubeconfig!),
          validate: policyValidator(this.settings, objectValidator({ strict: false })),
        });
    const tcfg = translateConfig({
      clusterId: config.clusterId,
      trustDomain: config.trustDomain,
      clusterDomain: config.clusterDomain,
      rootNamespace: config.rootNamespace,
      mesh: config.mesh,
      policiesFor: policyBinder(this.settings),
      autoAllowWaypointPolicy: config.autoAllowWaypointPolicy,
    });
    this.tcfg = tcfg;
    this.mesh = new MeshModel(this.store, tcfg);
    const authz = new WaypointAuthz(this.settings, this.jwks.lookup, (f) => this.jwks.onChange(f), {
      config: tcfg.mesh,
      clusterDomain: tcfg.clusterDomain,
    });
    this.waypoints = new WaypointPipeline(tcfg, this.store, this.mesh, this.resources, authz);
    this.meshConfig = new MeshConfigWatcher(
      meshSourceFor({
        meshConfigFile: config.meshConfigFile,
        kube: config.kubeconfig && !config.configDir ? kubeClientConfig(config.kubeconfig) : undefined,
        namespace: config.namespace,
        revision: config.revision,
        ...(config.sharedMeshConfig ? { sharedConfigMap: config.sharedMeshConfig } : {}),
      }),
      config.mesh,
      (m) => this.waypoints.setMeshConfig(m),
    );
    this.ads = new AdsServer({
      store: this.resources,
      authenticator,
      waypoints: this.waypoints,
      debounceMs: config.debounceMs,
      metrics: promXdsMetrics(this.registry),
    });
  }

  /** Loads the CA, starts the source and waits for its first sync, then serves. */
  async start(): Promise<Result<void>> {
    const c = this.config;
    const ca = await CertificateAuthority.loadOrCreateSelfSigned(c.caDir, {
      trustDomain: c.trustDomain,
      maxTtlSeconds: c.maxCertTtlSeconds,
    });
    if (!ca.ok) return err(new Error(`controlplane: CA ${c.caDir}: ${ca.error.message}`));
    this.ca = ca.value;

    // Resources follow the model; the first full translation happens at mesh.start().
    this.mesh.subscribe((d) => {
      const upserts: AddressResource[] = [
        ...d.workloads.upserted.map((value) => ({ kind: "workload" as const, value })),
        ...d.services.upserted.map((value) => ({ kind: "service" as const, value })),
      ];
      this.resources.update(ADDRESS_TYPE_URL, upserts, [...d.workloads.removed, ...d.services.removed]);
    });
    this.store.subscribe((change) => {
      if ([...change.changed].some((k) => k.startsWith(`${AUTHZ_KIND}/`) || k.startsWith(`${PEERAUTHN_KIND}/`))) this.syncAuthorizations();
    });
    await this.meshConfig.start();
    await this.source.start(this.store);
    await this.store.waitSynced();
    this.mesh.start();
    this.syncAuthorizations();
    this.waypoints.start();
    this.gateways = await gatewayControllerFor(c, this.store, this.tcfg, () => this.rootsPem);
    this.gateways?.start();
    for (const p of this.store.invalid())
      log.warn({ origin: p.origin.source, object: p.object, field: p.field }, `invalid object rejected: ${p.reason}`);

    const serving = await this.servingTls();
    if (!serving.ok) return serving;
    const caService = new CaService({
      authenticator: this.authenticator,
      signer: this.ca,
      nodeAuthorizer: { mayIssue: (node, uri) => this.mesh.podsOnNode(node).some((id) => toUri(id) === uri) },
      // Istio's CA_TRUSTED_NODE_ACCOUNTS default: only ztunnel may ask for its pods' identities.
      trustedNodeAccounts: [`${c.rootNamespace}/ztunnel`],
    });
    try {
      this.server = await startControlPlaneServer({
        host: c.listenHost,
        port: c.listenPort,
        tls: serving.value,
        ads: this.ads,
        ca: caService,
      });
      this.monitor = await this.admin.add("monitor", c.monitorHost, c.monitorPort, {
        ...metricsRoutes(this.registry),
        ...adminRoutes({
          configDump: () => this.configDump(),
          pendingReadiness: () => [],
          shutdown: () => void this.stop(),
          registry: this.registry,
          loopbackOnlyWrites: !isLoopbackHost(c.monitorHost),
        }),
        // istiod's name: every xDS stream with its subscriptions, last ACK/NACK per type (`weft proxy-status`).
        "/debug/adsz": (_req, res) => {
          const body = JSON.stringify({ generation: this.ads.generation, clients: this.ads.clients() }, null, 2) + "\n";
          res.writeHead(200, { "content-type": "application/json" });
          res.end(body);
        },
        "/ready": (_req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("ready\n");
        },
      });
    } catch (e) {
      await this.stop();
      return err(e as Error);
    }
    log.info(
      {
        workloads: this.mesh.workloads.size,
        services: this.mesh.services.size,
        authorizations: this.resources.all(AUTHORIZATION_TYPE_URL).size,
        port: this.server.port,
      },
      "control plane serving",
    );
    return ok(undefined);
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Bound monitoring port (ready, metrics, config dump). */
  get monitorPort(): number {
    return this.monitor?.port ?? 0;
  }

  get rootsPem(): readonly string[] {
    return this.ca?.rootsPem ?? [];
  }

  private syncAuthorizations(): void {
    const changed = this.resources.setAll(AUTHORIZATION_TYPE_URL, authorizations(this.store, this.settings));
    if (changed.length) log.info({ changed }, "authorization policies updated");
  }

  /** A serving certificate for the control plane identity from its own CA. */
  private async servingTls(): Promise<Result<{ keyPem: string; chainPem: string[] }>> {
    const id = parseUri(controlPlaneIdentity(this.config.trustDomain, this.config.rootNamespace));
    if (!id.ok) return id;
    const { keyPem, csrPem } = await generateKeyAndCsr(id.value);
    const chain = await this.ca!.sign(csrPem, {
      identity: id.value,
      ttlSeconds: this.config.maxCertTtlSeconds,
      dnsNames: this.config.servingDnsNames,
    });
    if (!chain.ok) return err(new Error(`controlplane: serving certificate: ${chain.error.message}`));
    // grpc-js wants the chain without the root (clients hold it).
    return ok({ keyPem, chainPem: chain.value.slice(0, -1).length ? chain.value.slice(0, -1) : chain.value });
  }

  configDump(): unknown {
    return {
      config: { ...this.config, bootstrapTokens: this.config.bootstrapTokens.map((t) => ({ node: t.node, identity: t.identity })) },
      invalidObjects: this.store.invalid(),
      /** Where the mesh config comes from, and why its current content is not in force, if it is not. */
      meshConfig: { ...this.meshConfig.status(), inForce: this.meshConfig.config },
      /** Malformed AuthorizationPolicy/PeerAuthentication: in force as fail-closed policies. */
      policyErrors: policyErrors(this.store, this.settings),
      waypointProblems: this.waypoints.problems(),
      workloads: [...this.mesh.workloads.values()],
      services: [...this.mesh.services.values()],
      authorizations: [...this.resources.all(AUTHORIZATION_TYPE_URL).keys()],
      clients: this.ads.clients(),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.gateways?.stop();
    await this.meshConfig.stop();
    await this.source.stop();
    this.waypoints.stop();
    this.jwks.stop();
    this.mesh.stop();
    await this.server?.close(1000);
    await this.admin.close();
  }
}

const isLoopbackHost = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.");

function kubeClientConfig(kubeconfig: string) {
  const r = kubeconfig === "in-cluster" ? inClusterConfig() : loadKubeconfig(kubeconfig);
  if (!r.ok) throw new Error(`controlplane: kubeconfig ${kubeconfig}: ${r.error.message}`);
  return r.value;
}

/** Local mode authenticates ztunnels with bootstrap tokens; Kubernetes mode with TokenReview. */
export function authenticatorFor(config: ControlPlaneConfig): Authenticator {
  if (config.kubeconfig)
    return new TokenReviewAuthenticator({ config: kubeClientConfig(config.kubeconfig), trustDomain: config.trustDomain });
  return new BootstrapTokenAuthenticator(config.bootstrapTokens);
}
