/**
 * Inbound: HBONE streams arriving on 15008 and captured plaintext arriving on 15006, both
 * ending at a workload on this node. Admission (status codes, authorization) is the pure
 * `inbound-admission.ts`; this file connects the upstream, answers, counts and tracks the
 * connection so a policy change can close it.
 */
import type net from "node:net";
import { canonicalIp, formatAddress, type SocketAddress } from "../../common/net/addr.js";
import { logger } from "../../common/log.js";
import { admitHbone, admitPlaintext, type InboundContext, type InboundDecision } from "./inbound-admission.js";
import type { HboneDecision, HboneHandler, HboneStreamHandle, HboneStreamRequest } from "../../proxy/hbone/server.js";
import type { Dialer } from "../../proxy/transport/dialer.js";
import { UpstreamFd } from "../../proxy/transport/upstream-fd.js";
import type { Result } from "../../common/result.js";
import { type TcpConnectionRecord, type TcpLabels, type ZtunnelMetrics, tcpLabels } from "../../proxy/metrics.js";
import type { Workload } from "../../common/model/workload.js";
import type { Service } from "../../common/model/service.js";
import type { Identity } from "../../common/spiffe.js";
import type { ConnectionRegistry, OpenInbound } from "./connections.js";
import { ignoreError, resetDuplex } from "../../proxy/hbone/splice.js";
import { isMutualTls } from "../../proxy/hbone/connection-security.js";
import { trustedClientAddress } from "../../proxy/hbone/client-address.js";

export { trustedClientAddress };
import { splice } from "../../proxy/transport/splice.js";
import { parseBaggage } from "../../proxy/hbone/baggage.js";
import { headerValue } from "../../proxy/hbone/headers.js";
import type { ConnectionInfo } from "../../proxy/access-log.js";
import { guessInboundService } from "./inbound-service.js";

const log = logger("ztunnel.inbound");

/*
 * The destination reporter's labels of an admitted tunnel, cached by the records they are made
 * of: the peer's identity (one object per HBONE connection, shared by its streams), the
 * destination and source workloads and the service (state records, replaced, never changed, on
 * an xDS update). The labels are tcpLabels' as before; the cache only skips rebuilding 23
 * strings per tunnel. Weak, so nothing outlives its records.
 */
const NONE = {};
const labelCache = new WeakMap<object, WeakMap<Workload, WeakMap<object, WeakMap<object, [TcpLabels?, TcpLabels?]>>>>();
function destinationLabels(
  source: Workload | undefined,
  peer: Identity | undefined,
  destination: Workload,
  service: Service | undefined,
  mtls: boolean,
): TcpLabels {
  const labels = () =>
    tcpLabels({
      reporter: "destination",
      ...(source ? { source } : {}),
      sourceIdentity: peer,
      destination,
      ...(service ? { service } : {}),
      mtls,
    });
  if (!peer) return labels();
  let byDest = labelCache.get(peer);
  if (!byDest) labelCache.set(peer, (byDest = new WeakMap()));
  let byService = byDest.get(destination);
  if (!byService) byDest.set(destination, (byService = new WeakMap()));
  let bySource = byService.get(service ?? NONE);
  if (!bySource) byService.set(service ?? NONE, (bySource = new WeakMap()));
  let pair = bySource.get(source ?? NONE);
  if (!pair) bySource.set(source ?? NONE, (pair = []));
  return (pair[mtls ? 1 : 0] ??= labels());
}

export interface InboundDeps {
  readonly ctx: InboundContext;
  readonly dialer: Dialer;
  readonly metrics: ZtunnelMetrics;
  readonly connections: ConnectionRegistry;
}

export class Inbound {
  constructor(private readonly d: InboundDeps) {}

  /** The HboneServer handler. */
  readonly hbone: HboneHandler = async (req: HboneStreamRequest): Promise<HboneDecision> => {
    const { ctx, metrics } = this.d;
    const client = trustedClientAddress(ctx, req);
    const decision = admitHbone(ctx, {
      method: req.method,
      authority: req.authority,
      connectionDestinationIp: req.localAddress.ip,
      sourceIp: client.ip,
      sourcePort: client.port,
      peer: req.peerIdentity,
    });
    const source = ctx.state.workloadByAddress(ctx.network, client.ip);
    const derivedSource = source ? undefined : parseBaggage(req.headers["baggage"]);
    // Plain data, no closure: nothing kept for the tunnel's lifetime may capture `req`.
    const refused = (policy: string | undefined): ConnectionInfo => ({
      src: formatAddress(client),
      dst: formatAddress(req.localAddress),
      hboneAddr: req.authority,
      ...(source ? { srcName: source.name } : {}),
      ...(decision.workload ? { dstName: decision.workload.name } : {}),
      ...(policy !== undefined ? { policy } : {}),
    });
    const service = decision.workload
      ? guessInboundService(
          (k) => ctx.state.serviceByKey(k),
          decision.workload,
          req.target.port,
          req.forwarded.host ?? headerValue(req.headers, "host"),
        )
      : undefined;
    if (!decision.ok) {
      log.info(
        { peer: req.peerIdentity, src: formatAddress(client), authority: req.authority, status: decision.status, reason: decision.reason },
        "inbound HBONE rejected",
      );
      metrics.connectionRejected(
        tcpLabels({
          reporter: "destination",
          ...(source ? { source } : {}),
          sourceIdentity: req.peerIdentity,
          ...(decision.workload ? { destination: decision.workload } : {}),
          ...(service ? { service } : {}),
          ...(derivedSource ? { derivedSource } : {}),
          mtls: isMutualTls(req.security),
          responseFlags: decision.status === 401 ? "DENY" : "CONNECT",
        }),
        refused(decision.status === 401 ? `deny: ${decision.reason}` : undefined),
        `${decision.status === 401 ? "connection closed due to policy rejection" : `rejected with ${decision.status}`}: ${decision.reason}`,
      );
      return { kind: "reject", status: decision.status, reason: decision.reason };
    }
    // The native engine takes a descriptor the addon dialled (no Node socket per tunnel).
    const dial = { target: decision.upstream, sourceIp: client.ip, signal: req.signal };
    const up: Result<Upstream> = req.upstreamForm === "fd" ? await this.d.dialer.dialFd(dial) : await this.d.dialer.dial(dial);
    if (!up.ok) {
      log.info({ dst: formatAddress(decision.upstream), err: up.error.message }, "inbound upstream connect failed");
      metrics.connectionRejected(
        tcpLabels({
          reporter: "destination",
          ...(source ? { source } : {}),
          sourceIdentity: req.peerIdentity,
          destination: decision.workload,
          ...(service ? { service } : {}),
          ...(derivedSource ? { derivedSource } : {}),
          mtls: isMutualTls(req.security),
          responseFlags: "CONNECT",
        }),
        refused("allow"),
        `upstream connect failed: ${up.error.message}`,
      );
      return { kind: "reject", status: 503, reason: up.error.message };
    }
    const upstream = up.value;
    const tunnel = new InboundTunnel(this.d.connections, req, sharedIp(client.ip, source), client.port, decision, source?.name, upstream);
    tunnel.record = metrics.connectionOpened(
      derivedSource
        ? tcpLabels({
            reporter: "destination",
            sourceIdentity: req.peerIdentity,
            destination: decision.workload,
            ...(service ? { service } : {}),
            derivedSource,
            mtls: isMutualTls(req.security),
          })
        : destinationLabels(source, req.peerIdentity, decision.workload, service, isMutualTls(req.security)),
      // The native engine counts the tunnel's bytes itself (the upstream is handed to it).
      req.tunnelBytes ?? (upstream instanceof UpstreamFd ? NO_BYTES : new ClientSideBytes(upstream)),
      tunnel,
    );
    this.d.connections.track(tunnel);
    return { kind: "tunnel", upstream, onClose: tunnel.ended.bind(tunnel) };
  };

  /** Captured plaintext (15006): the accepted socket's local address is the destination. */
  async plaintext(client: net.Socket): Promise<void> {
    const { ctx, metrics } = this.d;
    client.allowHalfOpen = true;
    client.on("error", ignoreError);
    const destination: SocketAddress = { ip: canonicalIp(client.localAddress) ?? "", port: client.localPort ?? 0 };
    const from = { ip: canonicalIp(client.remoteAddress) ?? "", port: client.remotePort ?? 0 };
    const decision = admitPlaintext(ctx, destination, from);
    const source = ctx.state.workloadByAddress(ctx.network, from.ip);
    const service = decision.workload
      ? guessInboundService((k) => ctx.state.serviceByKey(k), decision.workload, destination.port)
      : undefined;
    const info = (policy: string): ConnectionInfo => ({
      src: formatAddress(from),
      dst: formatAddress(destination),
      ...(source ? { srcName: source.name } : {}),
      ...(decision.workload ? { dstName: decision.workload.name } : {}),
      policy,
    });
    if (!decision.ok) {
      log.info({ src: formatAddress(from), dst: formatAddress(destination), reason: decision.reason }, "inbound plaintext rejected");
      metrics.connectionRejected(
        tcpLabels({
          reporter: "destination",
          ...(source ? { source } : {}),
          ...(decision.workload ? { destination: decision.workload } : {}),
          ...(service ? { service } : {}),
          mtls: false,
          responseFlags: decision.status === 401 ? "DENY" : "CONNECT",
        }),
        info(decision.status === 401 ? `deny: ${decision.reason}` : "-"),
        `${decision.status === 401 ? "connection closed due to policy rejection" : "rejected"}: ${decision.reason}`,
      );
      client.resetAndDestroy();
      return;
    }
    const up = await this.d.dialer.dial({ target: decision.upstream, sourceIp: from.ip });
    if (!up.ok || client.destroyed) {
      if (up.ok) up.value.destroy();
      if (!client.destroyed) client.resetAndDestroy();
      return;
    }
    const upstream = up.value;
    const done = metrics.connectionOpened(
      tcpLabels({
        reporter: "destination",
        ...(source ? { source } : {}),
        destination: decision.workload,
        ...(service ? { service } : {}),
        mtls: false,
      }),
      client,
      info("allow"),
    );
    const open: OpenInbound = {
      sourceIp: from.ip,
      sourcePort: from.port,
      destinationIp: destination.ip,
      destinationPort: destination.port,
      workloadUid: decision.workload.uid,
      close: () => {
        resetDuplex(client);
        resetDuplex(upstream);
      },
    };
    this.d.connections.track(open);
    await splice(client, upstream);
    this.d.connections.untrack(open);
    done.close();
  }
}

/**
 * An upstream socket's byte counts seen from the client side of the tunnel: what reaches the
 * app was received from the client. A class with prototype getters, not an object literal with
 * getters: that literal was a dictionary-mode object with two closures and their scope per
 * tunnel (~0.5 KB, docs/hbone.md "Performance").
 */
class ClientSideBytes {
  constructor(private readonly upstream: net.Socket) {}
  get bytesRead(): number {
    return this.upstream.bytesWritten;
  }
  get bytesWritten(): number {
    return this.upstream.bytesRead;
  }
}

/** A tunnel's upstream: a Node socket, or (native engine) a descriptor handed to the engine. */
type Upstream = net.Socket | UpstreamFd;

type AdmittedHbone = Extract<InboundDecision, { ok: true }>;

/** Byte counts of an upstream no one counts (a descriptor on an engine without tunnelBytes: none does that). */
const NO_BYTES = Object.freeze({ bytesRead: 0, bytesWritten: 0 });

/** The source IP as the source workload's own string when it is one of its addresses (a parsed `forwarded` address is a new string per tunnel). */
function sharedIp(ip: string, source: Workload | undefined): string {
  if (source) for (const a of source.addresses) if (a === ip) return a;
  return ip;
}

/**
 * One admitted HBONE tunnel while it is open, and the one record inbound keeps for it (docs/hbone.md
 * "Server side per tunnel"): the facts it was admitted with (its entry in the registry, evaluated
 * again on a policy change), its access-log record (`ConnectionInfo`; `src` and `dst` formatted
 * only when a line or `/connections` reads them) and what a policy close resets. Fixed fields
 * copied out of the request: it must not keep `req` (the headers, the abort signal).
 */
class InboundTunnel implements OpenInbound, ConnectionInfo {
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sourceIdentity: Identity;
  readonly workloadUid: string;
  readonly hboneAddr: string;
  readonly dstName: string;
  readonly policy = "allow";
  /** The metrics' record, set right after construction (it is given this object as its ConnectionInfo). */
  record: TcpConnectionRecord | undefined = undefined;
  private readonly local: SocketAddress;
  private readonly stream: HboneStreamHandle;

  constructor(
    private readonly registry: ConnectionRegistry,
    req: HboneStreamRequest,
    readonly sourceIp: string,
    readonly sourcePort: number,
    decision: AdmittedHbone,
    readonly srcName: string | undefined,
    private readonly upstream: Upstream,
  ) {
    // admitHbone admits only a target on the connection's own destination IP: the same string,
    // which the connection's streams share.
    this.destinationIp = req.localAddress.ip;
    this.destinationPort = decision.upstream.port;
    this.sourceIdentity = req.peerIdentity;
    this.workloadUid = decision.workload.uid;
    this.hboneAddr = req.authority;
    this.dstName = decision.workload.name;
    this.local = req.localAddress;
    this.stream = req.stream;
  }

  get src(): string {
    return formatAddress({ ip: this.sourceIp, port: this.sourcePort });
  }

  get dst(): string {
    return formatAddress(this.local);
  }

  /**
   * Policy now denies the tunnel: the HBONE stream and its upstream are closed. A descriptor
   * already handed to the native engine is closed by it (the stream's reset closes the upstream
   * with a TCP RST), so only one still owned is reset here.
   */
  close(): void {
    if (!this.stream.destroyed) this.stream.close();
    if (this.upstream instanceof UpstreamFd) this.upstream.reset();
    else resetDuplex(this.upstream);
  }

  /** The engine's end of the tunnel (the decision's `onClose`). */
  ended(): void {
    this.registry.untrack(this);
    this.record?.close();
  }
}
