/**
 * Outbound: a local workload's connection (captured on 15001, an explicit outbound listener,
 * or SOCKS5) to its original destination. The decision is `buildOutboundRoute` (pure); this
 * file does the IO: find the source workload by the client's address, fetch its certificate,
 * open an HBONE stream through the pool (or a direct socket for passthrough), count it, and
 * splice. Fail closed: a source ztunnel does not know, or a route it cannot serve, is refused;
 * mesh traffic never falls back to plaintext.
 */
import type net from "node:net";
import type { Duplex } from "node:stream";
import type { ClientHttp2Stream } from "node:http2";
import type { Workload } from "../../common/model/workload.js";
import type { Service } from "../../common/model/service.js";
import { workloadIdentityUri } from "../../common/model/workload.js";
import { type SocketAddress, canonicalIp, formatAddress } from "../../common/net/addr.js";
import { type Result, ok, err } from "../../common/result.js";
import { type Identity, parseUri } from "../../common/spiffe.js";
import { logger } from "../../common/log.js";
import type { StateView } from "../../proxy/state/state.js";
import { buildOutboundRoute, type OutboundRoute } from "./outbound-route.js";
import type { HbonePool } from "../../proxy/hbone/pool.js";
import { type OutboundTunnel, tunnelSecurity } from "../../proxy/hbone/engine.js";
import { NativeTunnel } from "../../proxy/hbone/native-client.js";
import type { CertificateManager } from "../../proxy/identity/manager.js";
import type { Dialer } from "../../proxy/transport/dialer.js";
import { type TcpConnectionRecord, type TcpLabels, type ZtunnelMetrics, tcpLabels } from "../../proxy/metrics.js";
import { ignoreError, spliceStream } from "../../proxy/hbone/splice.js";
import { isMutualTls } from "../../proxy/hbone/connection-security.js";
import { splice } from "../../proxy/transport/splice.js";
import { baggageHeader } from "../../proxy/hbone/baggage.js";
import type { ConnectionInfo } from "../../proxy/access-log.js";
import { resetFd, socketFromFd } from "../../proxy/transport/native-listener.js";

const log = logger("ztunnel.outbound");

/*
 * Per-connection facts that depend only on state records, cached by record: a Workload or
 * Service is replaced, never changed, when xDS updates it (proxy/state/mutator.ts), so an entry
 * keyed by the object is right for as long as the object is reachable, and goes with it. The
 * decisions themselves (route, identities, labels) are the same pure functions as before; this
 * only skips rebuilding their strings for every connection of the same source and destination.
 */
const sourceFacts = new WeakMap<Workload, { readonly id: Result<Identity>; readonly baggage: string }>();
function factsOf(w: Workload): { readonly id: Result<Identity>; readonly baggage: string } {
  let f = sourceFacts.get(w);
  if (!f) sourceFacts.set(w, (f = { id: identityOf(w), baggage: baggageHeader(w) }));
  return f;
}
/** Parsed expected identities by URI; bounded (cleared when full: identities are few). */
const parsedIdentities = new Map<string, Identity | undefined>();
function parsedIdentity(uri: string): Identity | undefined {
  if (parsedIdentities.has(uri)) return parsedIdentities.get(uri);
  if (parsedIdentities.size >= 4096) parsedIdentities.clear();
  const id = parseUri(uri);
  const v = id.ok ? id.value : undefined;
  parsedIdentities.set(uri, v);
  return v;
}
/** The source reporter's labels per (source, destination, service, mTLS) records. */
const NONE = {};
const labelCache = new WeakMap<Workload, WeakMap<object, WeakMap<object, [TcpLabels?, TcpLabels?]>>>();
function sourceLabels(source: Workload, destination: Workload | undefined, service: Service | undefined, mtls: boolean): TcpLabels {
  let byDest = labelCache.get(source);
  if (!byDest) labelCache.set(source, (byDest = new WeakMap()));
  let byService = byDest.get(destination ?? NONE);
  if (!byService) byDest.set(destination ?? NONE, (byService = new WeakMap()));
  let pair = byService.get(service ?? NONE);
  if (!pair) byService.set(service ?? NONE, (pair = []));
  const i = mtls ? 1 : 0;
  return (pair[i] ??= tcpLabels({
    reporter: "source",
    source,
    ...(destination ? { destination } : {}),
    ...(service ? { service } : {}),
    mtls,
  }));
}

export interface OutboundDeps {
  readonly state: StateView;
  readonly node: string;
  readonly network: string;
  readonly certs: CertificateManager;
  readonly pool: HbonePool<OutboundTunnel>;
  readonly dialer: Dialer;
  readonly metrics: ZtunnelMetrics;
  /** Istio's outboundTrafficPolicy; default ALLOW_ANY. */
  readonly outboundTrafficPolicy?: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** Resolves hostname workloads (upstream DNS); without it they are refused. */
  readonly resolveHost?: (host: string) => Promise<Result<string[]>>;
  /** Serves captured TCP DNS (destination port 53) when the DNS proxy is on. */
  readonly dnsTcp?: (client: net.Socket) => void;
}

/** Why an outbound connection was refused; `socksReply` is the SOCKS5 code that says it best. */
export interface OutboundFailure {
  readonly reason: string;
  readonly socksReply: number;
}

export interface Established {
  /** A socket (passthrough), Node's HTTP/2 stream, or a native tunnel (native engine). */
  readonly upstream: Duplex | NativeTunnel;
  readonly route: OutboundRoute;
  readonly source: Workload;
  /** Splices the client with the upstream and accounts the connection; resolves when both closed. */
  run(client: net.Socket): Promise<void>;
  /**
   * The same for a connection accepted in the addon (native engine): its fd is attached to a
   * native tunnel as it is (wrapped in a Node socket for any other upstream); the end is
   * accounted when it comes, with nothing to wait for.
   */
  runAccepted(fd: number): void;
}

export class Outbound {
  constructor(private readonly d: OutboundDeps) {}

  /** The local workload behind a client address, if ztunnel serves it. */
  sourceWorkload(ip: string | undefined): Workload | undefined {
    const canonical = canonicalIp(ip);
    if (!canonical) return undefined;
    const w = this.d.state.workloadByAddress(this.d.network, canonical);
    return w && w.node === this.d.node ? w : undefined;
  }

  /** Opens the upstream side for a client at `client` going to `target`. */
  async connect(client: SocketAddress, target: SocketAddress, signal?: AbortSignal): Promise<Result<Established, OutboundFailure>> {
    const source = this.sourceWorkload(client.ip);
    if (!source) {
      return err({ reason: `source ${client.ip} is not a workload on node ${this.d.node}`, socksReply: 0x02 });
    }
    const route = buildOutboundRoute(this.d.state, source, target, undefined, {
      outboundTrafficPolicy: this.d.outboundTrafficPolicy ?? "ALLOW_ANY",
    });
    if (route.kind === "reject") {
      // A waypoint nothing serves would otherwise blackhole a whole namespace quietly (issue 8).
      if (route.waypoint)
        log.warn(
          {
            service: route.service?.hostname,
            waypoint: route.waypoint.kind === "hostname" ? route.waypoint.hostname : route.waypoint.address,
            src: formatAddress(client),
          },
          "connection refused: the service's waypoint has no healthy endpoint",
        );
      // SOCKS5 "not allowed by ruleset" for a registry refusal, "host unreachable" otherwise.
      return err({ reason: route.reason, socksReply: route.registryOnly ? 0x02 : 0x04 });
    }
    if (route.kind === "direct") {
      let address = route.address;
      if (route.hostname !== undefined) {
        const ips = this.d.resolveHost ? await this.d.resolveHost(route.hostname) : err(new Error("no DNS resolver configured"));
        if (!ips.ok) return err({ reason: `cannot resolve ${route.hostname}: ${ips.error.message}`, socksReply: 0x04 });
        address = { ip: ips.value[Math.floor(Math.random() * ips.value.length)]!, port: route.address.port };
      }
      const s = await this.d.dialer.dial({ target: address });
      if (!s.ok) return err({ reason: `passthrough ${s.error.message}`, socksReply: 0x05 });
      const sock = s.value;
      return ok(this.established(source, route, sock, false, connectionInfo(client, target, source, route)));
    }
    const facts = factsOf(source);
    const sourceId = facts.id;
    if (!sourceId.ok) return err({ reason: sourceId.error.message, socksReply: 0x01 });
    const cert = await this.d.certs.get(sourceId.value);
    if (!cert.ok) return err({ reason: `no certificate for ${workloadIdentityUri(source)}: ${cert.error.message}`, socksReply: 0x01 });
    const expected: Identity[] = [];
    for (const uri of route.expectedIdentities) {
      const id = parsedIdentity(uri);
      if (id) expected.push(id);
    }
    const stream = await this.d.pool.connect(
      { source: cert.value, expected, destination: route.hboneAddress },
      {
        target: route.authority,
        forwardedFor: client,
        ...(route.service ? { host: route.service.hostname } : {}),
        // Upstream ztunnel's baggage, so the receiving side can label a source it does not know.
        baggage: facts.baggage,
      },
      signal,
    );
    if (!stream.ok) {
      const refused = stream.error.status === 401 ? 0x02 : stream.error.status === 503 ? 0x04 : 0x05;
      this.d.metrics.connectionRejected(
        tcpLabels({
          reporter: "source",
          source,
          ...(route.destination ? { destination: route.destination } : {}),
          ...(route.service ? { service: route.service } : {}),
          mtls: true,
          responseFlags: stream.error.status === 401 ? "DENY" : "CONNECT",
        }),
        connectionInfo(client, target, source, route),
        stream.error.message,
      );
      return err({ reason: stream.error.message, socksReply: refused });
    }
    const tunnel = stream.value;
    return ok(this.established(source, route, tunnel, isMutualTls(tunnelSecurity(tunnel)), connectionInfo(client, target, source, route)));
  }

  private established(
    source: Workload,
    route: OutboundRoute,
    upstream: Duplex | NativeTunnel,
    mtls: boolean,
    info: ConnectionInfo,
  ): Established {
    const metrics = this.d.metrics;
    const labels = () =>
      sourceLabels(
        source,
        route.kind !== "reject" ? route.destination : undefined,
        route.kind !== "reject" ? route.service : undefined,
        mtls,
      );
    // Not async, and the completion is a bound module function: nothing of this connection
    // but what the splice needs stays referenced while it runs (docs/hbone.md "Performance").
    const run = (client: net.Socket) => {
      // A native tunnel takes the client's socket over and counts its bytes itself.
      const done = metrics.connectionOpened(labels(), upstream instanceof NativeTunnel ? upstream : client, info);
      const spliced =
        upstream instanceof NativeTunnel
          ? upstream.splice(client)
          : route.kind === "hbone"
            ? spliceStream(upstream as ClientHttp2Stream, client)
            : splice(client, upstream);
      return spliced.then(finished.bind(null, done, source.name));
    };
    return {
      upstream,
      route,
      source,
      run,
      runAccepted: (fd: number) => {
        // Any other upstream than a native tunnel (passthrough) needs a Node socket.
        if (!(upstream instanceof NativeTunnel)) return void run(acceptedSocket(fd));
        const done = metrics.connectionOpened(labels(), upstream, info);
        // No promise per tunnel: the tunnel calls the bound completion at its end.
        upstream.attachFd(fd, finished.bind(null, done, source.name));
      },
    };
  }

  /**
   * A connection accepted in the addon (native engine, native-listener.ts): the same decision as
   * `handle` on the fd and its addresses, without a Node socket unless a rare path needs one
   * (captured DNS over TCP, passthrough). A refusal resets the connection. Unlike `handle`, a
   * client that goes away while the tunnel is being opened is noticed only at the attach (its
   * EOF or reset then ends the tunnel), not by aborting the open.
   */
  async handleAccepted(fd: number, from: SocketAddress, target: SocketAddress): Promise<void> {
    if (target.port === 53 && this.d.dnsTcp && this.sourceWorkload(from.ip)) {
      this.d.dnsTcp(acceptedSocket(fd));
      return;
    }
    const r = await this.connect(from, target);
    if (!r.ok) {
      log.info({ src: formatAddress(from), dst: formatAddress(target), reason: r.error.reason }, "outbound connection refused");
      resetFd(fd);
      return;
    }
    r.value.runAccepted(fd);
  }

  /** For listeners whose accepted socket's local address is the original destination. */
  async handle(client: net.Socket, target: SocketAddress): Promise<void> {
    client.allowHalfOpen = true;
    const from = { ip: canonicalIp(client.remoteAddress) ?? "", port: client.remotePort ?? 0 };
    const abort = new AbortController();
    const onClose = () => abort.abort();
    client.once("close", onClose);
    // A module function: an arrow here would keep this call's scope (the AbortController, the
    // route, the Result) alive for the tunnel's lifetime (docs/hbone.md "Performance").
    client.on("error", ignoreError);
    // Captured TCP DNS of a local workload goes to the DNS proxy (as upstream's in-pod redirect to 15053).
    if (target.port === 53 && this.d.dnsTcp && this.sourceWorkload(from.ip)) {
      client.off("close", onClose);
      this.d.dnsTcp(client);
      return;
    }
    const r = await this.connect(from, target, abort.signal);
    client.off("close", onClose);
    if (!r.ok) {
      log.info({ src: formatAddress(from), dst: formatAddress(target), reason: r.error.reason }, "outbound connection refused");
      if (!client.destroyed) client.resetAndDestroy();
      return;
    }
    if (client.destroyed) {
      r.value.upstream.destroy();
      return;
    }
    return r.value.run(client);
  }
}

/** A natively accepted fd as a Node socket (rare paths), set up as `handle` sets its sockets up. */
function acceptedSocket(fd: number): net.Socket {
  const s = socketFromFd(fd);
  s.on("error", ignoreError);
  return s;
}

function finished(done: TcpConnectionRecord, source: string, outcome: { readonly error?: Error }): void {
  done.close();
  if (outcome.error) log.debug({ err: outcome.error.message, source }, "outbound connection ended with an error");
}

function connectionInfo(client: SocketAddress, target: SocketAddress, source: Workload, route: OutboundRoute): ConnectionInfo {
  return {
    src: formatAddress(client),
    dst: formatAddress(target),
    srcName: source.name,
    ...(route.kind === "hbone" ? { hboneAddr: formatAddress(route.authority) } : {}),
    ...(route.kind !== "reject" && route.destination ? { dstName: route.destination.name } : {}),
  };
}

function identityOf(w: Workload): Result<Identity> {
  return parseUri(workloadIdentityUri(w));
}
