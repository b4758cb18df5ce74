/**
 * The HBONE server (port 15008): TCP in, mutual TLS, HTTP/2, one CONNECT per tunnel.
 *
 * Certificate selection has no SNI: the certificate is the one of the workload that owns the
 * LOCAL address of the accepted socket (the workload IP the client dialled; with capture the
 * kernel keeps that address), looked up per connection so rotation needs no restart. A socket
 * with no certificate for its local address is closed before TLS.
 *
 * Invariants: no HTTP/2 byte is processed before the client chain verified to our roots and its
 * SPIFFE trust domain is accepted; 200 is sent only after the handler returned a connected
 * upstream; every accepted socket, session and stream is tracked until closed (`stats()` is
 * what tests use to prove nothing leaks); malformed peers cost only their own connection.
 *
 * Edge hardening (docs/hbone.md "Hostile peers"): a CONNECT to one of the proxy's own listener
 * ports is refused (400, ztunnel's SelfCall) so tunnels cannot nest; each connection has a
 * budget of upstream dials (token bucket; past it the stream gets REFUSED_STREAM, no dial) and
 * of streams reset before their answer (rapid reset; past it the connection is closed with
 * GOAWAY(ENHANCE_YOUR_CALM)); Node's library-error handling is corrected by session-guard.ts.
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { logger } from "../../common/log.js";
import { type Identity, toUri } from "../../common/spiffe.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { type SocketAddress, canonicalIp, formatAddress } from "../../common/net/addr.js";
import { type ForwardedInfo, headerValue, parseForwarded } from "./headers.js";
import { checkConnect } from "./connect-check.js";
import { TokenBucket } from "./budget.js";
import { startKeepalive } from "./keepalive.js";
import { guardSession } from "./session-guard.js";
import { verifyPeerChain } from "./peer-verify.js";
import { type ConnectionSecurity, securityOf } from "./connection-security.js";
import { type HboneSettings, h2Settings, settingsOrThrow } from "./settings.js";
import { type SpliceOutcome, resetDuplex, spliceStream } from "./splice.js";
import { acceptClient, serverTlsOptions } from "./tls-context.js";
import { UpstreamFd } from "../transport/upstream-fd.js";

const log = logger("ztunnel.hbone.server");

/** One CONNECT, as the handler sees it. */
export interface HboneStreamRequest {
  readonly method: string;
  /** The raw `:authority`. */
  readonly authority: string;
  /** `:authority` parsed (always a literal ip:port; anything else was already answered 400). */
  readonly target: SocketAddress;
  readonly headers: http2.IncomingHttpHeaders;
  /** The `forwarded` header's first element (original client, service host), if present. */
  readonly forwarded: ForwardedInfo;
  /** The verified SPIFFE identity of the client certificate. */
  readonly peerIdentity: Identity;
  /** The connection's TLS state, as the socket reports it after the handshake and our peer check. */
  readonly security: ConnectionSecurity;
  /** Local address of the TLS connection: the workload address the peer dialled. */
  readonly localAddress: SocketAddress;
  /** The client's address (a ztunnel, or a waypoint). */
  readonly remoteAddress: SocketAddress;
  readonly stream: HboneStreamHandle;
  /**
   * Bytes of the tunnel as the client sees them (bytesRead: received from the client), kept by the
   * engine when it carries the bytes itself (native engine); absent on the Node engine, where the
   * upstream socket's own counters are the figure.
   */
  readonly tunnelBytes?: { readonly bytesRead: number; readonly bytesWritten: number };
  /** Aborted if the client resets the stream or the connection drops before a decision. */
  readonly signal: AbortSignal;
  /**
   * The upstream form the engine takes: "fd" on the native engine (a descriptor the addon
   * dialled, `Dialer.dialFd`: no Node socket per tunnel), a socket (Duplex) when absent.
   */
  readonly upstreamForm?: "fd";
}

/** What a handler may do to the stream it decides on: Node's ServerHttp2Stream, or the native engine's handle. */
export interface HboneStreamHandle {
  readonly destroyed: boolean;
  /** RST_STREAM with `code` (NO_ERROR when omitted, after the answer). */
  close(code?: number): void;
}

export type HboneDecision =
  /** Answer `status` and end the stream. */
  | { readonly kind: "reject"; readonly status: 400 | 401 | 503; readonly reason: string }
  /**
   * Answer 200 and splice the stream with `upstream` (already connected, half-open allowed): a
   * socket, or on an engine asking for `upstreamForm: "fd"` a descriptor the engine takes over.
   */
  | { readonly kind: "tunnel"; readonly upstream: Duplex | UpstreamFd; readonly onClose?: (outcome: SpliceOutcome) => void }
  /**
   * Answer 200 and hand the tunnel's bytes to `serve` (the waypoint terminates the tunnel and
   * speaks HTTP inside it); `serve` owns them from then on.
   */
  | { readonly kind: "terminate"; readonly serve: (tunnel: TerminatedTunnel) => void };

/**
 * A tunnel the handler terminates: its bytes as a Duplex (Node's ServerHttp2Stream, or on the
 * native engine one end of a socket pair the addon splices with the stream; both half-open) and
 * `reset`, the RST_STREAM with `code` that ends it as a failure (ending `stream` is a clean end).
 */
export interface TerminatedTunnel {
  readonly stream: Duplex;
  reset(code: number): void;
}

export type HboneHandler = (req: HboneStreamRequest) => Promise<HboneDecision>;

export interface HboneServerOptions {
  /** Certificate for the workload owning a local IP; undefined closes the connection. */
  readonly certificateFor: (localIp: string) => WorkloadCertificate | undefined;
  /**
   * When `certificateFor` has none yet: the certificate being fetched for a local workload that
   * owns the IP (a pod enrolled a moment ago), awaited before the handshake for at most the
   * handshake timeout, as upstream ztunnel's inbound waits for its certificate fetch; undefined
   * when the IP is no local workload's (closed at once).
   */
  readonly awaitCertificateFor?: (localIp: string) => Promise<WorkloadCertificate | undefined> | undefined;
  /** SPIFFE trust domains accepted from clients (the mesh's own). */
  readonly trustDomains: readonly string[];
  readonly handler: HboneHandler;
  readonly settings?: Partial<HboneSettings>;
  /**
   * Ports of the proxy's own listeners (ztunnel: 15001, 15006, 15008, 15080); a CONNECT to one
   * of them is refused with 400. The port of the connection's own local address (the HBONE
   * port the client dialled) is always refused.
   */
  readonly illegalPorts?: readonly number[];
}

export interface HboneServerStats {
  /** Sockets currently open (handshaking or serving). */
  readonly connections: number;
  /** HTTP/2 sessions currently open. */
  readonly sessions: number;
  /** Streams currently open (deciding or tunnelling). */
  readonly streams: number;
  readonly connectionsAccepted: number;
  /** Closed before HTTP/2: no certificate for the local address, TLS or identity failure, timeout. */
  readonly connectionsRejected: number;
  readonly streamsTotal: number;
  /** Streams answered with a non-200 status, by status. */
  readonly streamsRejected: Readonly<Record<number, number>>;
  /** Streams reset with REFUSED_STREAM because the connection's dial budget was spent. */
  readonly streamsRefused: number;
  /** Streams refused alone (REFUSED_STREAM) past SETTINGS_MAX_CONCURRENT_STREAMS (native engine; Node's ends the connection). */
  readonly streamsRefusedOverLimit: number;
  /** Streams the client reset before their answer. */
  readonly streamsResetEarly: number;
  /** Connections closed with GOAWAY(ENHANCE_YOUR_CALM) for resetting too many streams early. */
  readonly connectionsCalmed: number;
  /** Peer protocol errors answered by nghttp2 without closing the connection at once. */
  readonly protocolErrorsKept: number;
}

interface Conn {
  readonly peer: Identity;
  readonly security: ConnectionSecurity;
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  readonly openedAt: number;
  /** Streams open on this connection. */
  streams: number;
  readonly dials: TokenBucket;
  readonly earlyResets: TokenBucket;
  /** Closed with GOAWAY(ENHANCE_YOUR_CALM); no further streams are served. */
  calmed: boolean;
  /** Set when the HTTP/2 session starts (a closed stream no longer knows its session). */
  session?: http2.ServerHttp2Session;
}

/** One inbound HBONE connection, for the admin config dump. */
export interface HboneServerConnectionDump {
  readonly peerIdentity: string;
  readonly local: string;
  readonly remote: string;
  readonly activeStreams: number;
  readonly openedAt: string;
}

/**
 * Streams Node may refuse in a row before it fails the session. Each refusal answers a HEADERS
 * frame the client sent (>= 40 bytes in, 13 out), so this bounds the answer to one burst
 * (about 400 KB of input), not a queue the client can grow.
 */
const NODE_REJECTED_STREAMS_IN_A_ROW = 10_000;

function onStreamError(e: Error): void {
  log.debug({ err: e }, "hbone stream error");
}

function addressOf(ip: string | undefined, port: number | undefined): SocketAddress {
  return { ip: canonicalIp(ip) ?? ip ?? "", port: port ?? 0 };
}

export class HboneServer {
  private readonly settings: HboneSettings;
  private readonly h2: http2.Http2Server;
  private readonly listeners = new Set<net.Server>();
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Map<http2.ServerHttp2Session, Conn>();
  private adopting: Conn | undefined;
  private closing = false;
  private openStreams = 0;
  private accepted = 0;
  private rejected = 0;
  private streamsTotal = 0;
  private refused = 0;
  private resetEarly = 0;
  private calmed = 0;
  private protocolErrorsKept = 0;
  private readonly rejectedByStatus: Record<number, number> = {};
  private readonly illegalPorts: ReadonlySet<number>;

  constructor(private readonly opts: HboneServerOptions) {
    if (opts.trustDomains.length === 0) throw new Error("hbone server: trustDomains: at least one trust domain is required");
    this.settings = settingsOrThrow(opts.settings);
    this.illegalPorts = new Set(opts.illegalPorts ?? []);
    this.h2 = http2.createServer({
      settings: h2Settings(this.settings, true),
      maxSessionMemory: this.settings.maxSessionMemoryMb,
      // Node refuses a stream itself (RST_STREAM(ENHANCE_YOUR_CALM), no 'stream' event) while its
      // native stream table is full, and past this many refusals in a row fails the session from
      // inside the read, with no GOAWAY (default 100). Node 24 keeps a stream the client reset in
      // that table until a later event-loop turn, so one read of HEADERS+RST_STREAM pairs fills
      // it (SETTINGS_MAX_CONCURRENT_STREAMS); the refusals cost no dial, and the early-reset
      // budget then closes the connection with GOAWAY(ENHANCE_YOUR_CALM) one turn later.
      maxSessionRejectedStreams: NODE_REJECTED_STREAMS_IN_A_ROW,
    });
    this.h2.on("session", (s) => this.onSession(s));
    this.h2.on("stream", (stream, headers) => this.onStream(stream, headers));
    this.h2.on("sessionError", (e) => log.debug({ err: e }, "hbone session error"));
  }

  /** Binds a listener; resolves with the bound address (port 0 picks one). */
  listen(host: string, port: number): Promise<SocketAddress> {
    const server = net.createServer({ allowHalfOpen: false, noDelay: true }, (s) => this.adopt(s));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        server.on("error", (e) => log.error({ err: e }, "hbone listener error"));
        this.listeners.add(server);
        const a = server.address() as net.AddressInfo;
        resolve(addressOf(a.address, a.port));
      });
    });
  }

  /** Takes over an already accepted TCP socket (a listener the ztunnel bound itself). */
  adopt(socket: net.Socket): void {
    socket.on("error", (e) => log.debug({ err: e }, "hbone socket error"));
    if (this.closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    this.accepted++;
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    const local = addressOf(socket.localAddress, socket.localPort);
    const remote = addressOf(socket.remoteAddress, socket.remotePort);
    const noCertificate = (why: string) => {
      this.rejected++;
      log.warn({ local: local.ip, remote: remote.ip, reason: why }, "hbone: no workload certificate for local address, closing connection");
      socket.destroy();
    };
    const cert = this.opts.certificateFor(local.ip);
    if (cert) return this.handshake(socket, cert, local, remote);
    const pending = this.opts.awaitCertificateFor?.(local.ip);
    if (!pending) return noCertificate("not a local workload's address");
    // The client's ClientHello waits in the socket (nothing reads it yet) while the certificate
    // of a just-enrolled workload is fetched; bounded by the handshake timeout.
    const waitMs = this.settings.handshakeTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
    void Promise.race([pending, timeout]).then(
      (c) => {
        clearTimeout(timer);
        if (socket.destroyed) return;
        if (this.closing) return void socket.destroy();
        if (!c) return noCertificate(`certificate not available within ${waitMs} ms`);
        this.handshake(socket, c, local, remote);
      },
      (e: Error) => {
        clearTimeout(timer);
        if (!socket.destroyed) noCertificate(e.message);
      },
    );
  }

  private handshake(socket: net.Socket, cert: WorkloadCertificate, local: SocketAddress, remote: SocketAddress): void {
    socket.setNoDelay(true);
    const tlsSocket = new tls.TLSSocket(socket, serverTlsOptions(cert));
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      this.rejected++;
      log.info({ local: local.ip, remote: remote.ip, reason: why }, "hbone: connection refused");
      tlsSocket.destroy();
      socket.destroy();
    };
    tlsSocket.on("error", (e) => {
      if (!settled) fail(`tls: ${e.message}`);
      else log.debug({ err: e, remote: remote.ip }, "hbone tls error");
    });
    tlsSocket.once("close", () => fail("closed during the tls handshake"));
    const timer = setTimeout(
      () => fail(`tls handshake not done within ${this.settings.handshakeTimeoutMs} ms`),
      this.settings.handshakeTimeoutMs,
    );
    timer.unref();
    tlsSocket.once("close", () => clearTimeout(timer));
    tlsSocket.once("secure", () => {
      clearTimeout(timer);
      if (settled) return;
      if (tlsSocket.alpnProtocol !== "h2") return fail(`alpn ${JSON.stringify(tlsSocket.alpnProtocol)}, want h2`);
      const chain = verifyPeerChain(tlsSocket, cert);
      if (!chain.ok) return fail(chain.error.message);
      const peer = acceptClient(chain.value, { trustDomains: this.opts.trustDomains });
      if (!peer.ok) return fail(peer.error.message);
      if (this.closing) return fail("server shutting down");
      // 'session' fires synchronously inside emit('connection'); it picks up `adopting`.
      // Hazard: tls.Server clears `secureConnecting` when the handshake is done; a TLSSocket made
      // by hand keeps it true, and the HTTP/2 session would then wait for a 'secureConnect'
      // that a server socket never emits. Do what tls.Server does.
      (tlsSocket as unknown as { secureConnecting: boolean }).secureConnecting = false;
      settled = true;
      const now = Date.now();
      const st = this.settings;
      this.adopting = {
        peer: peer.value,
        security: securityOf(tlsSocket, peer.value),
        local,
        remote,
        openedAt: now,
        streams: 0,
        dials: new TokenBucket(st.connectBurst, st.connectsPerSecond, now),
        earlyResets: new TokenBucket(st.earlyResetBurst, st.earlyResetsPerSecond, now),
        calmed: false,
      };
      try {
        this.h2.emit("connection", tlsSocket);
      } finally {
        this.adopting = undefined;
      }
    });
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const conn = this.adopting;
    if (!conn) {
      session.destroy();
      return;
    }
    this.sessions.set(session, conn);
    conn.session = session;
    guardSession(session, { probeTimeoutMs: this.settings.protocolProbeTimeoutMs, onKept: () => this.protocolErrorsKept++ });
    session.on("error", (e) => log.debug({ err: e, remote: conn.remote.ip }, "hbone session error"));
    session.once("close", () => this.sessions.delete(session));
    session.once("localSettings", () => {
      try {
        session.setLocalWindowSize(this.settings.connectionWindowBytes);
      } catch (e) {
        log.debug({ err: e }, "hbone: could not raise connection window");
      }
    });
    startKeepalive(session, {
      intervalMs: this.settings.pingIntervalMs,
      timeoutMs: this.settings.pingTimeoutMs,
      onTimeout: () => log.info({ remote: conn.remote.ip }, "hbone: client stopped answering pings, dropping connection"),
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const conn = this.sessions.get(stream.session as http2.ServerHttp2Session);
    // Module functions and a bound method, not arrows: the listeners live as long as the tunnel,
    // and an arrow would keep this call's scope (the request, its headers) alive with them.
    stream.on("error", onStreamError);
    this.streamsTotal++;
    this.openStreams++;
    stream.once("close", this.streamClosed.bind(this, conn));
    if (!conn) return this.reply(stream, 503, "unknown connection");
    conn.streams++;
    const method = headerValue(headers, ":method") ?? "";
    const authority = headerValue(headers, ":authority") ?? "";
    const target = checkConnect(method, authority, conn.local.port, this.illegalPorts);
    if (!target.ok) {
      if (target.selfCall) log.info({ peer: toUri(conn.peer), authority }, "hbone: CONNECT to a proxy listener port refused (self call)");
      return this.reply(stream, target.status, target.reason);
    }
    if (conn.calmed) return this.refuse(stream);
    const req: HboneStreamRequest = {
      method,
      authority,
      target: target.target,
      headers,
      forwarded: parseForwarded(headers["forwarded"]),
      peerIdentity: conn.peer,
      security: conn.security,
      localAddress: conn.local,
      remoteAddress: conn.remote,
      stream,
      signal: new AbortController().signal,
    };
    // One turn of the event loop before any upstream dial: a RST_STREAM that arrived in the same
    // read as the HEADERS (rapid reset, CVE-2023-44487) has closed the stream by then, so it
    // costs no dial at all.
    setImmediate(this.admit.bind(this), stream, conn, req);
  }

  private streamClosed(conn: Conn | undefined): void {
    this.openStreams--;
    if (conn) conn.streams--;
  }

  /** One turn after the stream arrived: spend the dial budget and ask the handler. */
  private admit(stream: http2.ServerHttp2Stream, conn: Conn, req: HboneStreamRequest): void {
    if (stream.closed || stream.destroyed) return this.onEarlyReset(conn);
    if (conn.calmed) return this.refuse(stream);
    if (!conn.dials.take(Date.now())) {
      log.info({ peer: toUri(conn.peer), remote: conn.remote.ip }, "hbone: connection's upstream dial budget spent, stream refused");
      return this.refuse(stream);
    }
    const abort = new AbortController();
    void this.decide(stream, conn, abort, { ...req, signal: abort.signal });
  }

  /**
   * Asks the handler, answers, and hands an accepted tunnel to the splice. Returns once the
   * tunnel is spliced (not when it ends), so the request and this frame are not kept alive for
   * the tunnel's lifetime (per-connection memory, docs/hbone.md "Performance").
   */
  private async decide(stream: http2.ServerHttp2Stream, conn: Conn, abort: AbortController, req: HboneStreamRequest): Promise<void> {
    const onEarlyClose = () => {
      abort.abort(new Error("hbone: stream closed before the tunnel was established"));
      this.onEarlyReset(conn);
    };
    stream.once("close", onEarlyClose);
    let decision: HboneDecision;
    try {
      decision = await this.opts.handler(req);
    } catch (e) {
      log.warn({ err: e, authority: req.authority }, "hbone handler failed");
      decision = { kind: "reject", status: 503, reason: `handler failed: ${(e as Error).message}` };
    }
    stream.off("close", onEarlyClose);
    if (decision.kind === "reject") return this.reply(stream, decision.status, decision.reason);
    if (decision.kind === "terminate") {
      if (stream.destroyed || stream.closed) return;
      try {
        stream.respond({ ":status": 200 }, { endStream: false });
      } catch {
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      decision.serve({ stream, reset: (code) => stream.close(code) });
      return;
    }
    const { onClose } = decision;
    // This engine splices sockets; a descriptor (not asked for here) is wrapped rather than refused.
    const upstream = decision.upstream instanceof UpstreamFd ? decision.upstream.toSocket() : decision.upstream;
    if (stream.destroyed || stream.closed) {
      resetDuplex(upstream);
      onClose?.({ error: new Error("hbone: stream closed before the tunnel was established") });
      return;
    }
    try {
      stream.respond({ ":status": 200 }, { endStream: false });
    } catch (e) {
      resetDuplex(upstream);
      onClose?.({ error: e as Error });
      return;
    }
    const spliced = spliceStream(stream, upstream);
    if (onClose) void spliced.then(onClose);
  }

  /** RST_STREAM(REFUSED_STREAM): the client may retry the stream elsewhere (RFC 9113 §8.7). */
  private refuse(stream: http2.ServerHttp2Stream): void {
    this.refused++;
    if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  }

  /**
   * A stream the client reset before its answer (rapid reset). Past the connection's budget the
   * connection is closed with GOAWAY(ENHANCE_YOUR_CALM): a client that keeps doing this is
   * attacking (CVE-2023-44487) or broken, and every such stream cost an upstream dial.
   */
  private onEarlyReset(conn: Conn): void {
    this.resetEarly++;
    if (conn.calmed || conn.earlyResets.take(Date.now())) return;
    conn.calmed = true;
    this.calmed++;
    log.warn(
      { peer: toUri(conn.peer), remote: conn.remote.ip },
      "hbone: client resets streams before their answer too often, closing the connection",
    );
    // destroy(error, code) sends GOAWAY(code) and flushes it before the socket closes.
    const session = conn.session;
    if (session && !session.destroyed) {
      session.destroy(new Error("hbone: too many streams reset before their answer"), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  /** Answers a status without a body and releases the stream, even if the client keeps sending. */
  private reply(stream: http2.ServerHttp2Stream, status: number, reason: string): void {
    this.rejectedByStatus[status] = (this.rejectedByStatus[status] ?? 0) + 1;
    log.debug({ status, reason }, "hbone: stream rejected");
    if (stream.destroyed || stream.closed) return;
    try {
      stream.respond({ ":status": status }, { endStream: true });
    } catch {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.resume();
    // Sent after the response (close waits for the writable side to finish).
    if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  stats(): HboneServerStats {
    return {
      connections: this.sockets.size,
      sessions: this.sessions.size,
      streams: this.openStreams,
      connectionsAccepted: this.accepted,
      connectionsRejected: this.rejected,
      streamsTotal: this.streamsTotal,
      streamsRejected: { ...this.rejectedByStatus },
      streamsRefused: this.refused,
      streamsRefusedOverLimit: 0,
      streamsResetEarly: this.resetEarly,
      connectionsCalmed: this.calmed,
      protocolErrorsKept: this.protocolErrorsKept,
    };
  }

  /** Open inbound connections (admin config dump); no key material. */
  dump(): HboneServerConnectionDump[] {
    return [...this.sessions.values()].map((c) => ({
      peerIdentity: toUri(c.peer),
      local: formatAddress(c.local),
      remote: formatAddress(c.remote),
      activeStreams: c.streams,
      openedAt: new Date(c.openedAt).toISOString(),
    }));
  }

  /**
   * Stops accepting, sends GOAWAY so clients open new tunnels elsewhere, lets open tunnels
   * finish until `deadlineMs`, then destroys what is left. Idempotent.
   */
  async close(deadlineMs = 5_000): Promise<void> {
    this.closing = true;
    // close() stops accepting at once; its callback only fires once every accepted socket is
    // gone, so it is awaited at the end, not before the GOAWAYs.
    const listenersClosed = Promise.all([...this.listeners].map((l) => new Promise<void>((r) => l.close(() => r()))));
    this.listeners.clear();
    for (const s of this.sessions.keys()) {
      if (s.closed || s.destroyed) continue;
      // GOAWAY now (nghttp2 lowers the last stream id to the last one we received), so clients
      // stop opening streams here at once; close() alone sends it only when streams are done.
      try {
        s.goaway(http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
      } catch (e) {
        log.debug({ err: e }, "hbone: goaway failed");
      }
      s.close();
    }
    const started = Date.now();
    while (this.sockets.size > 0 && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sessions.keys()) s.destroy();
    for (const s of this.sockets) s.destroy();
    await listenersClosed;
  }
}
