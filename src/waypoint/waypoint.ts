/**
 * Assembles a waypoint from its parts and owns their lifecycle: Address state and the L7
 * store (xDS or static file), its own certificate (one identity, the Gateway's service
 * account), the HBONE server that terminates client tunnels, the HTTP servers inside them, the
 * upstream HBONE pool, metrics, access log, admin/readiness. Start-up binds every listener
 * before reporting started; readiness opens once the certificate is loaded and the first
 * configuration applied; shutdown drains to the deadline, then closes everything.
 */
import net from "node:net";
import { randomBytes, randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import { logger } from "../common/log.js";
import { type Identity, identity, toUri } from "../common/spiffe.js";
import { type Workload, workloadIdentityUri } from "../common/model/workload.js";
import type { WorkloadCertificate } from "../common/tls/types.js";
import { type Result, ok, err } from "../common/result.js";
import { type SocketAddress, formatAddress } from "../common/net/addr.js";
import { parseUri } from "../common/spiffe.js";
import { AdminServers, adminRoutes, metricsRoutes, readinessRoutes } from "../common/admin/servers.js";
import { ProxyState } from "../proxy/state/state.js";
import { StateMutator } from "../proxy/state/mutator.js";
import { CertificateManager } from "../proxy/identity/manager.js";
import type { CaClient } from "../proxy/identity/ca-client.js";
import type { HboneDecision, HboneStreamRequest } from "../proxy/hbone/server.js";
import type { HbonePool } from "../proxy/hbone/pool.js";
import {
  type HboneInboundServer,
  type OutboundTunnel,
  WAYPOINT_DEFAULT_ENGINE,
  createHboneServer,
  createHbonePool,
  tunnelDuplex,
} from "../proxy/hbone/engine.js";
import type { HboneSettings } from "../proxy/hbone/settings.js";
import { trustedClientAddress } from "../proxy/hbone/client-address.js";
import type { WaypointConfig } from "./config.js";
import { L7Store } from "./envoy/store.js";
import { DnsClusters, systemLookup } from "./upstream/dns-clusters.js";
import type { Endpoint } from "./envoy/types.js";
import { ClusterPolicies } from "./upstream/cluster-policies.js";
import { RateLimiters } from "./resilience/rate-limit.js";
import type { ProxyRuntime, TunnelContext } from "./http/context.js";
import { Downstream } from "./http/downstream.js";
import { tcpPassthrough } from "./http/tcp.js";
import { serveOriginalDst } from "./http/direct.js";
import { UpstreamConnections } from "./http/upstream.js";
import { type AccessLogSink, pinoAccessLog } from "./telemetry/access-log.js";
import { WaypointMetrics } from "./telemetry/metrics.js";
import { OtlpSpanSink } from "./telemetry/tracer.js";
import { closeExtAuthz } from "./http/authz-step.js";
import { explainRoutes } from "./http/explain-route.js";

const log = logger("waypoint");

export interface WaypointRuntime {
  readonly caClient: CaClient;
  readonly rootsPem: readonly string[];
  readonly hboneSettings?: Partial<HboneSettings>;
  /** Weighted-cluster and mirror draws (default Math.random). */
  readonly random?: () => number;
  /** Where access log entries go (default: pino, component waypoint.access). */
  readonly accessLog?: AccessLogSink;
  /** Nameservers for DNS clusters (`ip` or `ip:port`; default: /etc/resolv.conf's). */
  readonly dnsServers?: readonly string[];
}

export class Waypoint {
  readonly state = new ProxyState();
  readonly mutator = new StateMutator(this.state);
  readonly l7 = new L7Store();
  readonly metrics = new WaypointMetrics();
  readonly identity: Identity;
  readonly certs: CertificateManager;
  readonly pool: HbonePool<OutboundTunnel>;
  readonly hbone: HboneInboundServer;
  readonly upstreams = new UpstreamConnections();
  /** Per-cluster load balancing, circuit breakers and outlier detection (config dump `clusterPolicies`). */
  readonly clusters: ClusterPolicies;
  /** STRICT_DNS / LOGICAL_DNS clusters' resolution (ServiceEntry hosts with resolution DNS). */
  private readonly dns: DnsClusters;
  private readonly spans = new OtlpSpanSink(this.l7);
  private readonly downstream: Downstream;
  private readonly rt: ProxyRuntime;
  private readonly admin = new AdminServers();
  private cert: WorkloadCertificate | undefined;
  private readonly gates = new Set<string>(["listeners", "certificate", "config"]);
  private readonly extraDumps = new Map<string, () => unknown>();
  private stopping: Promise<void> | undefined;
  private markStopped!: () => void;
  readonly stopped: Promise<void> = new Promise((r) => (this.markStopped = r));
  hboneAddress: SocketAddress | undefined;

  constructor(
    readonly config: WaypointConfig,
    runtime: WaypointRuntime,
  ) {
    this.identity = identity(config.trustDomain, config.namespace, config.serviceAccount);
    this.certs = new CertificateManager(runtime.caClient, { rootsPem: runtime.rootsPem, ttlSeconds: config.certTtlSeconds });
    this.certs.onCertificate((c) => {
      if (toUri(c.identity) === toUri(this.identity)) this.cert = c;
    });
    const engine = config.hboneEngine ?? WAYPOINT_DEFAULT_ENGINE;
    this.pool = createHbonePool(runtime.hboneSettings, engine);
    const random = runtime.random ?? Math.random;
    const clusters = new ClusterPolicies(random, Date.now, {
      ejected: (cluster, e) => {
        this.metrics.outlierEjection(cluster);
        log.warn({ cluster, host: e.host, reason: e.reason, durationMs: e.durationMs }, "outlier detection ejected a host");
      },
      overflow: (cluster, limit) => {
        this.metrics.clusterOverflow(cluster, limit);
        log.debug({ cluster, limit }, "circuit breaker overflow");
      },
    });
    this.metrics.ejectedHosts = () => clusters.ejectedByCluster();
    this.clusters = clusters;
    this.l7.onChange((kind) => {
      if (kind === "cluster" || kind === "endpoints") clusters.retain(new Set(this.l7.clusterNames()));
      if (kind === "cluster") this.dns.sync(this.l7.allClusters());
    });
    this.dns = new DnsClusters(systemLookup(runtime.dnsServers));
    this.l7.useDnsHosts((name) => this.dns.endpointsOf(name));
    this.extraDumps.set("dnsClusters", () => this.dns.dump());
    this.rt = {
      l7: this.l7,
      state: this.state,
      network: config.network,
      clusters,
      random,
      ids: { randomHex: (n) => randomBytes(n).toString("hex"), uuid: randomUUID },
      upstreams: this.upstreams,
      rateLimits: new RateLimiters(),
      openTunnel: (ep, w, client, host) => this.openTunnel(ep, w, client, host),
      metrics: this.metrics,
      accessLog: runtime.accessLog ?? pinoAccessLog,
      spans: this.spans,
      self: { name: config.name, namespace: config.namespace, ...(config.podIp ? { ip: config.podIp } : {}) },
    };
    this.downstream = new Downstream(this.rt);
    this.hbone = createHboneServer(
      {
        // One identity: whatever local address the client dialled, the waypoint presents its own.
        certificateFor: () => this.cert,
        trustDomains: [config.trustDomain],
        handler: (req) => this.onTunnel(req),
        ...(runtime.hboneSettings ? { settings: runtime.hboneSettings } : {}),
      },
      engine,
    );
  }

  /** Binds admin, metrics, readiness and HBONE, applies the static config if any, fetches the certificate. */
  async start(): Promise<Result<void>> {
    const c = this.config;
    try {
      const hooks = {
        configDump: () => this.configDump(),
        pendingReadiness: () => [...this.gates],
        shutdown: () => void this.stop(),
        registry: this.metrics.registry,
      };
      await this.admin.add("admin", c.admin.ip, c.admin.port, { ...adminRoutes(hooks), ...explainRoutes(this.l7) });
      await this.admin.add("metrics", c.metrics.ip, c.metrics.port, metricsRoutes(this.metrics.registry));
      await this.admin.add("readiness", c.readiness.ip, c.readiness.port, readinessRoutes(hooks));
      this.hboneAddress = await this.hbone.listen(c.listen, c.hbonePort);
    } catch (e) {
      await this.stop();
      return err(new Error(`waypoint: ${(e as Error).message}`, { cause: e }));
    }
    this.gates.delete("listeners");
    log.info({ hbone: formatAddress(this.hboneAddress), identity: toUri(this.identity) }, "waypoint listening");
    if (c.static) {
      for (const kind of ["cluster", "endpoints", "route", "listener"] as const) {
        const r = this.l7.apply(kind, [...(c.static.resources.get(kind) ?? [])], []);
        if (!r.ok)
          return err(new Error(`waypoint: static config: ${r.error.map((e) => `${e.resource}: ${e.field}: ${e.reason}`).join("; ")}`));
      }
      if (!c.xdsAddress) this.gates.delete("config");
    }
    const cert = await this.certs.get(this.identity);
    if (!cert.ok) log.warn({ err: cert.error.message }, "waypoint certificate not available yet; retrying in the background");
    else this.gates.delete("certificate");
    return ok(undefined);
  }

  /** Listeners bound, certificate loaded, first configuration applied (what /healthz/ready answers). */
  isReady(): boolean {
    return this.gates.size === 0;
  }

  /** The first full configuration arrived (xDS mode). */
  configSynced(): void {
    this.gates.delete("config");
  }

  private async onTunnel(req: HboneStreamRequest): Promise<HboneDecision> {
    const listener = this.l7.listenerFor(req.target.ip, req.target.port);
    const client = trustedClientAddress({ state: this.state, network: this.config.network }, req);
    const source = this.state.workloadByAddress(this.config.network, client.ip);
    const tunnel = { target: req.target, peer: req.peerIdentity, client, ...(source ? { source } : {}) };
    if (!listener) {
      // Workload-addressed traffic: a use_original_dst listener with chains for this address.
      const direct = this.l7.originalDstFor(req.target.ip, req.target.port);
      if (!direct) return { kind: "reject", status: 503, reason: `no listener for ${req.authority} at this waypoint` };
      if (this.isOwnAddress(req.target.ip))
        return { kind: "reject", status: 400, reason: `${req.authority} is this waypoint: refusing a loop` };
      return { kind: "terminate", serve: (t) => serveOriginalDst(this.rt, this.downstream, t, tunnel, direct.chains) };
    }
    const ctx: TunnelContext = { listener, ...tunnel };
    if (listener.filter.kind === "tcp") return tcpPassthrough(this.rt, ctx, listener.filter.cluster);
    return { kind: "terminate", serve: (t) => this.downstream.serve(t.stream, ctx) };
  }

  /** Whether `ip` is one of this waypoint's own addresses (its pod IP, or the HBONE listen address). */
  private isOwnAddress(ip: string): boolean {
    return ip === this.config.podIp || ip === this.hboneAddress?.ip || ip === this.config.listen;
  }

  /**
   * A byte stream to an endpoint: HBONE to `<ip>:15008` with authority `<ip>:<port>` expecting
   * the endpoint workload's identity, when the Address state knows it as HBONE-capable;
   * otherwise plain TCP (a workload outside the mesh, or an address the state does not know).
   */
  private async openTunnel(ep: Endpoint, w: Workload | undefined, client: SocketAddress, host?: string): Promise<Result<Duplex, Error>> {
    const sourceIp = this.config.podIp;
    if (w?.tunnelProtocol === "HBONE") {
      const cert = await this.certs.get(this.identity);
      if (!cert.ok) return err(cert.error);
      const expected = parseUri(workloadIdentityUri(w));
      if (!expected.ok) return err(expected.error);
      const r = await this.pool.connect(
        { source: cert.value, expected: [expected.value], destination: { ip: ep.ip }, ...(sourceIp ? { sourceIp } : {}) },
        { target: { ip: ep.ip, port: ep.port }, forwardedFor: client, ...(host ? { host } : {}) },
      );
      return r.ok ? ok(tunnelDuplex(r.value)) : err(r.error);
    }
    return new Promise((resolve) => {
      const s = net.connect({ host: ep.ip, port: ep.port, noDelay: true, ...(sourceIp ? { localAddress: sourceIp } : {}) });
      const timer = setTimeout(() => s.destroy(new Error(`tcp connect ${formatAddress(ep)}: timed out`)), 10_000);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(ok(s));
      });
      s.once("error", (e) => {
        clearTimeout(timer);
        resolve(err(new Error(`tcp connect ${formatAddress(ep)}: ${e.message}`, { cause: e })));
      });
    });
  }

  addDump(name: string, f: () => unknown): void {
    this.extraDumps.set(name, f);
  }

  configDump(): unknown {
    const c = this.config;
    return {
      ...Object.fromEntries([...this.extraDumps].map(([k, f]) => [k, f()])),
      config: {
        name: c.name,
        namespace: c.namespace,
        identity: toUri(this.identity),
        trustDomain: c.trustDomain,
        network: c.network,
        hbone: this.hboneAddress ? formatAddress(this.hboneAddress) : undefined,
        xdsAddress: c.xdsAddress,
        staticFile: c.staticFile,
      },
      ready: this.isReady(),
      pendingReadiness: [...this.gates],
      envoy: this.l7.dump(),
      workloads: this.state._workloads.size,
      services: this.state._services.size,
      certificates: this.certs.dump(),
      inbound: { ...this.hbone.stats(), httpTunnels: this.downstream.connections },
      pool: this.pool.dump(),
      upstreams: this.upstreams.stats(),
      clusterPolicies: this.clusters.dump(),
    };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const deadline = this.config.drainSeconds * 1000;
      await this.hbone.close(deadline);
      this.downstream.close();
      this.upstreams.close();
      this.dns.stop();
      await this.pool.close(deadline);
      this.certs.close();
      await this.admin.close();
      await this.spans.close(); // flushes the spans still queued
      closeExtAuthz(this.l7);
      log.info("waypoint stopped");
      this.markStopped();
    })();
    return this.stopping;
  }
}
