/**
 * Assembles a ztunnel from its parts and owns their lifecycle: state (static file or xDS),
 * certificates, the HBONE server and pool, inbound, outbound, SOCKS5, admin/metrics/readiness.
 * Start-up binds every listener before reporting ready, so a taken port fails loudly; shutdown
 * stops accepting, lets open connections drain until the deadline, then closes everything.
 */
import net from "node:net";
import { logger } from "../common/log.js";
import { type Identity, parseUri, toUri } from "../common/spiffe.js";
import { workloadIdentityUri, type Workload } from "../common/model/workload.js";
import type { WorkloadCertificate } from "../common/tls/types.js";
import { type Result, ok, err } from "../common/result.js";
import { canonicalIp, formatAddress } from "../common/net/addr.js";
import { listenTransparent } from "../common/native/native.js";
import type { ZtunnelConfig } from "./config.js";
import { ProxyState } from "../proxy/state/state.js";
import { StateMutator } from "../proxy/state/mutator.js";
import { CertificateManager } from "../proxy/identity/manager.js";
import type { CaClient } from "../proxy/identity/ca-client.js";
import {
  type HboneEngine,
  type HboneInboundServer,
  type OutboundTunnel,
  ZTUNNEL_DEFAULT_ENGINE,
  createHbonePool,
  createHboneServer,
} from "../proxy/hbone/engine.js";
import type { HbonePool } from "../proxy/hbone/pool.js";
import type { HboneSettings } from "../proxy/hbone/settings.js";
import { ZtunnelMetrics } from "../proxy/metrics.js";
import type { ConnectionSpans } from "../proxy/otlp-spans.js";
import type { ServerResponse } from "node:http";
import { AdminServers, adminRoutes, metricsRoutes, readinessRoutes } from "../common/admin/servers.js";
import { Outbound } from "./traffic/outbound.js";
import { Inbound } from "./traffic/inbound.js";
import { Socks5Server } from "./traffic/socks5-server.js";
import { ConnectionRegistry } from "./traffic/connections.js";
import { PerWorkloadHboneListeners } from "./hbone-listeners.js";
import { type Dialer, PlainDialer, TransparentDialer } from "../proxy/transport/dialer.js";
import { FdLimitWatch } from "../proxy/transport/fd-limit.js";
import { NativeListener, type NativeListenerStats } from "../proxy/transport/native-listener.js";
import { nativeDialStats } from "../proxy/transport/native-dial.js";
import { explainFromState, stateAuthorizer } from "./traffic/authorizer.js";
import type { Authorize } from "./traffic/inbound-admission.js";
import { DnsForwarder } from "./dns/forwarder.js";
import { DnsServer } from "./dns/server.js";
import { nodeAddresses } from "./node-addresses.js";

const log = logger("ztunnel");

export interface ZtunnelRuntime {
  /** Signs local workloads' certificates. */
  readonly caClient: CaClient;
  /** Mesh trust anchors. */
  readonly rootsPem: readonly string[];
  /** Overrides for tests (short timers). */
  readonly hboneSettings?: Partial<HboneSettings>;
  /** Plain TCP dialer; defaults to a PlainDialer keeping source IPs on loopback. */
  readonly dialer?: Dialer;
}

export class Ztunnel {
  readonly state = new ProxyState();
  readonly mutator = new StateMutator(this.state);
  readonly metrics = new ZtunnelMetrics();
  /** Connection spans, with --tracing-otlp (the OpenTelemetry modules are loaded only then). */
  private spans: ConnectionSpans | undefined;
  readonly connections = new ConnectionRegistry();
  readonly certs: CertificateManager;
  readonly pool: HbonePool<OutboundTunnel>;
  readonly hbone: HboneInboundServer;
  readonly outbound: Outbound;
  readonly inbound: Inbound;
  /** The DNS proxy, when `dnsProxy` is on. */
  readonly dns?: DnsServer;
  readonly dnsForwarder: DnsForwarder;
  private readonly authorize: Authorize;
  private readonly socks: Socks5Server;
  private readonly admin = new AdminServers();
  private readonly hboneListeners: PerWorkloadHboneListeners;
  private readonly outboundServers: net.Server[] = [];
  /** Outbound listeners accepting in the addon (native engine): connections reach Outbound as fds. */
  private readonly nativeListeners: NativeListener[] = [];
  /** Says in the log when the open-file limit refuses connections (the event loop refuses them silently). */
  private readonly fdWatch = new FdLimitWatch({
    onEvent: (e) =>
      e.kind === "exhausted"
        ? log.warn(
            { openFiles: e.open, limit: e.limit },
            "open-file limit reached: new connections (outbound and inbound) are refused at once until some close; raise RLIMIT_NOFILE (LimitNOFILE, ulimit -n)",
          )
        : log.info({ openFiles: e.open, limit: e.limit }, "below the open-file limit again: accepting new connections"),
  });
  /** Current certificate per identity URI, for synchronous selection at TLS accept. */
  private readonly certByIdentity = new Map<string, WorkloadCertificate>();
  private readonly gates = new Set<string>(["listeners", "config", "certificates"]);
  private stopping: Promise<void> | undefined;
  private markStopped!: () => void;
  /** Resolves once the ztunnel has stopped, however the stop was requested (signal, /quitquitquit). */
  readonly stopped: Promise<void> = new Promise((r) => (this.markStopped = r));
  private syncing: Promise<void> = Promise.resolve();
  private readonly extraDumps = new Map<string, () => unknown>();
  /** The HBONE engine of the server, the pool and the outbound accept: the config's, else the ztunnel's default. */
  readonly engine: HboneEngine;

  constructor(
    readonly config: ZtunnelConfig,
    private readonly runtime: ZtunnelRuntime,
  ) {
    this.engine = config.hboneEngine ?? ZTUNNEL_DEFAULT_ENGINE;
    this.certs = new CertificateManager(runtime.caClient, { rootsPem: runtime.rootsPem, ttlSeconds: config.certTtlSeconds });
    this.certs.onCertificate((cert) => this.certByIdentity.set(toUri(cert.identity), cert));
    this.pool = createHbonePool(runtime.hboneSettings, this.engine);
    this.metrics.observe({ certificates: () => this.certs.dump() });
    this.authorize = stateAuthorizer(this.state);
    const dialer =
      runtime.dialer ??
      (config.capture === "transparent"
        ? new TransparentDialer({ mark: config.ztunnelMark, timeoutMs: 10_000, spoofSource: true })
        : new PlainDialer({ bindSource: true, timeoutMs: 10_000 }));
    this.hbone = createHboneServer(
      {
        certificateFor: (ip) => this.certificateFor(ip),
        awaitCertificateFor: (ip) => this.awaitCertificateFor(ip),
        trustDomains: [config.trustDomain],
        handler: (req) => this.inbound.hbone(req),
        // ztunnel's illegal_ports: a tunnel into ztunnel's own listeners would nest (SelfCall).
        illegalPorts: [config.ports.outbound, config.ports.inbound, config.ports.hbone, config.ports.socks5],
        ...(runtime.hboneSettings ? { settings: runtime.hboneSettings } : {}),
      },
      this.engine,
    );
    const ctx = {
      state: this.state,
      node: config.node,
      network: config.network,
      authorize: this.authorize,
      // Only with capture: without it, no node traffic reaches the inbound plaintext listener by itself.
      ...(config.capture === "transparent" && config.nodeTrafficAuthz !== "enforce" ? { isNodeAddress: nodeAddresses() } : {}),
    };
    this.inbound = new Inbound({ ctx, dialer, metrics: this.metrics, connections: this.connections });
    this.dnsForwarder = new DnsForwarder(config.dnsUpstreams ?? []);
    if (config.dnsProxy)
      this.dns = new DnsServer({
        state: this.state,
        node: config.node,
        network: config.network,
        clusterDomain: config.clusterDomain ?? "cluster.local",
        forwarder: this.dnsForwarder,
        registry: this.metrics.registry,
      });
    const dns = this.dns;
    this.outbound = new Outbound({
      outboundTrafficPolicy: config.outboundTrafficPolicy ?? "ALLOW_ANY",
      resolveHost: (host) => this.dnsForwarder.resolve(host),
      ...(dns ? { dnsTcp: (s: net.Socket) => dns.handleTcp(s) } : {}),
      state: this.state,
      node: config.node,
      network: config.network,
      certs: this.certs,
      pool: this.pool,
      dialer,
      metrics: this.metrics,
    });
    this.socks = new Socks5Server(this.outbound, this.state, config.network);
    this.hboneListeners = new PerWorkloadHboneListeners(this.hbone, config.ports.hbone);
    this.mutator.onChange((change) => {
      this.syncing = this.syncing.then(() => this.syncLocalWorkloads());
      if (change.authorizations.length || change.workloads.length) {
        const closed = this.connections.reevaluate((uid) => this.state.workloadByUid(uid), this.authorize);
        if (closed) log.info({ closed }, "closed open connections denied after a policy change");
      }
    });
  }

  /** Binds every listener, loads the static config if any, and prefetches local certificates. */
  async start(): Promise<Result<void>> {
    const c = this.config;
    try {
      if (c.tracing) {
        const { ConnectionSpans } = await import("../proxy/otlp-spans.js");
        this.spans = new ConnectionSpans({ ...c.tracing, serviceName: `ztunnel.${c.node}` });
        this.metrics.spans = this.spans;
        log.info({ collector: c.tracing.collector, samplingPercent: c.tracing.samplingPercent }, "exporting connection spans");
      }
      const hooks = {
        configDump: () => this.configDump(),
        pendingReadiness: () => [...this.gates],
        shutdown: () => void this.stop(),
        registry: this.metrics.registry,
      };
      await this.admin.add("admin", c.bindAddress, c.ports.admin, {
        ...adminRoutes(hooks),
        "/authz/explain": (_req, res, url) => this.explainRoute(res, url),
        // Open connections with addresses, identities and bytes (`weft ztunnel-config connections`).
        "/connections": (_req, res) => {
          const body = JSON.stringify({ connections: this.metrics.connections() }, null, 2) + "\n";
          res.writeHead(200, { "content-type": "application/json" });
          res.end(body);
        },
      });
      await this.admin.add("metrics", c.bindAddress, c.ports.metrics, metricsRoutes(this.metrics.registry));
      await this.admin.add("readiness", c.bindAddress, c.ports.readiness, readinessRoutes(hooks));
      const socks = await this.socks.listen(c.bindAddress, c.ports.socks5);
      log.info({ address: `${socks.address}:${socks.port}` }, "socks5 listening");
      for (const target of c.outboundListeners) {
        if (this.acceptsNatively()) {
          const l = NativeListener.listen(
            { host: target.ip, port: target.port },
            (fd, _local, remote) => void this.outbound.handleAccepted(fd, remote, target),
          );
          if (!l.ok) throw new Error(`ztunnel: outbound listener ${formatAddress(target)}: ${l.error.message}`, { cause: l.error });
          this.nativeListeners.push(l.value);
          continue;
        }
        const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => void this.outbound.handle(s, target));
        await new Promise<void>((resolve, reject) => {
          server.once("error", (e) => reject(new Error(`ztunnel: outbound listener ${formatAddress(target)}: ${e.message}`, { cause: e })));
          server.listen({ host: target.ip, port: target.port }, () => resolve());
        });
        this.outboundServers.push(server);
      }
      if (c.capture === "transparent") await this.listenCapture();
      if (this.dns) {
        // Capture redirects pods' port 53 to the node's dns port: bind the wildcard address then,
        // `::` (dual stack: IPv4 queries arrive as IPv4-mapped) so IPv6 pods' queries are served
        // too; `0.0.0.0` when the namespace has no IPv6.
        let r = c.capture === "transparent" ? await this.dns.listen("::", c.ports.dns) : await this.dns.listen(c.bindAddress, c.ports.dns);
        if (!r.ok && c.capture === "transparent") {
          log.warn({ err: r.error.message }, "dns proxy: no IPv6 wildcard, listening on 0.0.0.0 only");
          r = await this.dns.listen("0.0.0.0", c.ports.dns);
        }
        if (!r.ok) throw r.error;
      }
    } catch (e) {
      await this.stop();
      return err(e as Error);
    }
    this.gates.delete("listeners");
    this.fdWatch.start();
    if (c.static) {
      const r = this.mutator.applyAddresses(
        [
          ...c.static.workloads.map((value) => ({ kind: "workload" as const, value })),
          ...c.static.services.map((value) => ({ kind: "service" as const, value })),
        ],
        [],
      );
      if (!r.ok) return err(new Error(`ztunnel: static config: ${r.error.map((e) => `${e.resource} ${e.field}: ${e.reason}`).join("; ")}`));
      this.gates.delete("config");
    }
    await this.syncing;
    log.info({ node: c.node, workloads: this.state._workloads.size, services: this.state._services.size }, "ztunnel started");
    return ok(undefined);
  }

  /**
   * Whether plain TCP outbound listeners accept in the addon (docs/hbone.md "Client side", the
   * accept): on the native engine, whose tunnels attach an accepted fd as it is. SOCKS5 stays on
   * Node (it parses a handshake first), as do the inbound plaintext and HBONE capture listeners.
   */
  private acceptsNatively(): boolean {
    return this.engine === "native";
  }

  /** Counters of the natively accepting outbound listeners, summed (zeros without any). */
  nativeAcceptStats(): Omit<NativeListenerStats, "listening"> & { listeners: number } {
    const sum = { listeners: 0, accepted: 0, refusedAtFdLimit: 0, errors: 0, pauses: 0 };
    for (const l of this.nativeListeners) {
      const s = l.stats();
      if (!s.listening) continue;
      sum.listeners++;
      sum.accepted += s.accepted;
      sum.refusedAtFdLimit += s.refusedAtFdLimit;
      sum.errors += s.errors;
      sum.pauses += s.pauses;
    }
    return sum;
  }

  /**
   * Capture mode: IP_TRANSPARENT, marked wildcard listeners that the redirection (eBPF or
   * nftables) feeds. Each accepted socket's local address is the original destination.
   */
  private async listenCapture(): Promise<void> {
    const c = this.config;
    const plan: Array<[string, number, (s: net.Socket) => void]> = [
      [
        "outbound",
        c.ports.outbound,
        (s) => void this.outbound.handle(s, { ip: canonicalIp(s.localAddress) ?? "", port: s.localPort ?? 0 }),
      ],
      ["inbound plaintext", c.ports.inbound, (s) => void this.inbound.plaintext(s)],
      ["hbone", c.ports.hbone, (s) => this.hbone.adopt(s)],
    ];
    // One IPv4 and one IPv6 (v6-only) listener per port, as upstream ztunnel binds both families;
    // the capture hands each family's connections to its own listener. A node without IPv6 gets
    // the IPv4 ones only (the CNI agent then refuses IPv6 pod addresses too).
    for (const [name, port, handler] of plan) {
      for (const host of ["0.0.0.0", "::"]) {
        if (name === "outbound" && this.acceptsNatively()) {
          // The accepted connection's local address is the original destination, as on Node's listener.
          const n = NativeListener.listen(
            { host, port, transparent: { mark: c.ztunnelMark } },
            (fd, local, remote) => void this.outbound.handleAccepted(fd, remote, local),
          );
          if (!n.ok && host === "::" && (n.error.code === "EAFNOSUPPORT" || n.error.code === "EADDRNOTAVAIL")) {
            log.warn({ name, port, err: n.error.message }, "no IPv6 in this namespace: IPv4 capture listener only");
            continue;
          }
          if (!n.ok)
            throw new Error(
              `ztunnel: ${name} capture listener ${formatAddress({ ip: host, port })}: ${n.error.message} (capture mode needs root and the native addon: scripts/setup.sh)`,
              { cause: n.error },
            );
          this.nativeListeners.push(n.value);
          log.info({ name, port, host, accept: "native" }, "capture listener bound (transparent)");
          continue;
        }
        const r = await listenTransparent({ host, port, mark: c.ztunnelMark, allowHalfOpen: name !== "hbone" }, handler);
        if (!r.ok && host === "::" && (r.error.code === "EAFNOSUPPORT" || r.error.code === "EADDRNOTAVAIL")) {
          log.warn({ name, port, err: r.error.message }, "no IPv6 in this namespace: IPv4 capture listener only");
          continue;
        }
        if (!r.ok)
          throw new Error(
            `ztunnel: ${name} capture listener ${formatAddress({ ip: host, port })}: ${r.error.message} (capture mode needs root and the native addon: scripts/setup.sh)`,
            { cause: r.error },
          );
        this.outboundServers.push(r.value);
        log.info({ name, port, host }, "capture listener bound (transparent)");
      }
    }
  }

  /** Listeners bound, first configuration applied, certificates fetched (what /healthz/ready answers). */
  isReady(): boolean {
    return this.gates.size === 0;
  }

  /** Marks the initial configuration as received (xDS mode calls this after the first full push). */
  configSynced(): void {
    this.gates.delete("config");
  }

  /** Local workloads drive HBONE listeners and certificate prefetch. */
  private async syncLocalWorkloads(): Promise<void> {
    const local = [...this.state.workloads()].filter((w) => w.node === this.config.node && w.tunnelProtocol === "HBONE");
    const ids = new Map<string, Identity>();
    for (const w of local) {
      const id = parseUri(workloadIdentityUri(w));
      if (id.ok) ids.set(toUri(id.value), id.value);
    }
    for (const uri of [...this.certByIdentity.keys()]) {
      if (!ids.has(uri)) {
        this.certByIdentity.delete(uri);
        const id = parseUri(uri);
        if (id.ok) this.certs.forget(id.value);
      }
    }
    const results = await Promise.all([...ids.values()].map((id) => this.certs.get(id)));
    results.forEach((r) => {
      if (!r.ok) log.warn({ err: r.error.message }, "certificate prefetch failed; retrying in the background");
    });
    if (this.config.capture === "none") await this.hboneListeners.sync(new Set(local.flatMap((w: Workload) => w.addresses)));
    this.gates.delete("certificates");
  }

  private certificateFor(localIp: string): WorkloadCertificate | undefined {
    const w = this.localWorkload(localIp);
    return w && this.certByIdentity.get(workloadIdentityUri(w));
  }

  /** A local workload's certificate not issued yet (the pod was enrolled a moment ago): its fetch. */
  private awaitCertificateFor(localIp: string): Promise<WorkloadCertificate | undefined> | undefined {
    const w = this.localWorkload(localIp);
    if (!w) return undefined;
    const id = parseUri(workloadIdentityUri(w));
    if (!id.ok) return undefined;
    return this.certs.get(id.value).then((r) => (r.ok ? r.value : undefined));
  }

  private localWorkload(localIp: string): Workload | undefined {
    const w = this.state.workloadByAddress(this.config.network, localIp);
    return w && w.node === this.config.node ? w : undefined;
  }

  /** GET /authz/explain?src=IP&principal=td/ns/N/sa/S&dst=IP&port=N (principal omitted: plaintext). */
  private explainRoute(res: ServerResponse, url: URL): void {
    const q = url.searchParams;
    const r = explainFromState(this.state, this.config.network, {
      sourceIp: q.get("src") ?? "",
      ...(q.get("principal") ? { principal: q.get("principal")! } : {}),
      destinationIp: q.get("dst") ?? "",
      destinationPort: Number(q.get("port") ?? ""),
    });
    const body = r.ok ? r.value : `explain: ${r.error.message}\nusage: /authz/explain?src=IP&principal=TD/ns/NS/sa/SA&dst=IP&port=PORT\n`;
    res.writeHead(r.ok ? 200 : 400, { "content-type": "text/plain; charset=utf-8" });
    res.end(body);
  }

  /** Adds a section to the config dump (e.g. the xDS client's status). */
  addDump(name: string, f: () => unknown): void {
    this.extraDumps.set(name, f);
  }

  configDump(): unknown {
    const c = this.config;
    return {
      ...Object.fromEntries([...this.extraDumps].map(([k, f]) => [k, f()])),
      config: {
        node: c.node,
        trustDomain: c.trustDomain,
        network: c.network,
        clusterId: c.clusterId,
        capture: c.capture,
        bindAddress: c.bindAddress,
        ports: c.ports,
        xdsAddress: c.xdsAddress,
        staticFile: c.staticFile,
        hboneEngine: this.engine,
      },
      ready: this.isReady(),
      pendingReadiness: [...this.gates],
      workloads: [...this.state.workloads()].sort((a, b) => a.uid.localeCompare(b.uid)),
      services: [...this.state.services()].sort((a, b) => a.hostname.localeCompare(b.hostname)),
      policies: [...this.state.authorizations()],
      certificates: this.certs.dump(),
      hboneListeners: this.hboneListeners.bound,
      pool: this.pool.dump(),
      ...(this.nativeListeners.length ? { outboundAccept: this.nativeAcceptStats() } : {}),
      // The addon's upstream dials (the native engine's inbound tunnels; docs/hbone.md "The upstream dial").
      ...(this.acceptsNatively() ? { upstreamDial: nativeDialStats() ?? null } : {}),
      inbound: { ...this.hbone.stats(), trackedConnections: this.connections.size },
    };
  }

  /** Stops accepting, drains open connections up to the deadline, then closes everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      log.info({ drainSeconds: this.config.drainSeconds }, "ztunnel stopping");
      this.fdWatch.stop();
      this.hboneListeners.close();
      for (const s of this.outboundServers) s.close();
      for (const l of this.nativeListeners) l.close();
      const deadline = this.config.drainSeconds * 1000;
      await Promise.allSettled([this.dns?.close(), this.socks.close(), this.hbone.close(deadline), this.pool.close(deadline)]);
      this.certs.close();
      await this.admin.close();
      await this.spans?.close();
      log.info("ztunnel stopped");
      this.markStopped();
    })();
    return this.stopping;
  }
}
