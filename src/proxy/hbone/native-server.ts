/**
 * The HBONE server on the native engine (docs/hbone.md "Native engine"): the addon
 * (native/hbone_server.c) does TCP, TLS 1.3 mTLS, HTTP/2 and moves every tunnel's bytes between
 * the upstream fd and its stream without JavaScript; this class makes every decision, with the
 * same rules and the same handler contract as the Node engine's HboneServer (server.ts):
 * certificate by local address, the peer chain verified by peer-verify.ts and its trust domain
 * accepted before any HTTP/2 byte, 400 for non-CONNECT / bad authority / a proxy listener port,
 * the per-connection dial budget (REFUSED_STREAM) and rapid-reset budget
 * (GOAWAY(ENHANCE_YOUR_CALM)), 200 only once the handler returned a connected upstream.
 *
 * The addon calls in per connection (onConnection, onSecure, onConnectionEnd) and per stream
 * (onStream, onStreamEnd); a stream reset in the same read as its HEADERS reaches this class
 * only as an unanswered end (it costs no dial). Differences from the Node engine: a stream
 * past SETTINGS_MAX_CONCURRENT_STREAMS is refused alone (REFUSED_STREAM) instead of ending the
 * connection. A `terminate` decision (the waypoint) gets the tunnel as a socket on one end of a
 * socket pair that the addon splices with the stream.
 */
import net from "node:net";
import fs from "node:fs";
import type { Duplex } from "node:stream";
import { X509Certificate } from "node:crypto";
import http2 from "node:http2";
import { logger } from "../../common/log.js";
import { type Identity, toUri } from "../../common/spiffe.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { type SocketAddress, canonicalIp, formatAddress } from "../../common/net/addr.js";
import { parseForwarded } from "./headers.js";
import { checkConnect } from "./connect-check.js";
import { TokenBucket } from "./budget.js";
import { verifyChain } from "./peer-verify.js";
import type { ConnectionSecurity } from "./connection-security.js";
import { type HboneSettings, settingsOrThrow } from "./settings.js";
import { type SpliceOutcome, ignoreError, resetDuplex } from "./splice.js";
import { acceptClient } from "./tls-context.js";
import type {
  HboneDecision,
  HboneServerConnectionDump,
  HboneServerOptions,
  HboneServerStats,
  HboneStreamHandle,
  HboneStreamRequest,
  TerminatedTunnel,
} from "./server.js";
import { type NativeContextHandle, type NativeHboneAddon, type NativeServerHandle, nativeContextFor, nativeHbone } from "./native-addon.js";
import { takeOverSocket } from "./native-fd.js";
import { UpstreamFd } from "../transport/upstream-fd.js";

const log = logger("ztunnel.hbone.native");

const { NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_CANCEL } = http2.constants;

interface Conn {
  readonly id: number;
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  /** Set later when the connection waits for a just-enrolled workload's certificate. */
  cert: WorkloadCertificate | undefined;
  readonly openedAt: number;
  readonly dials: TokenBucket;
  readonly earlyResets: TokenBucket;
  readonly streams: Map<number, NativeStream>;
  /** The last stream's `:authority`: a tunnel's access-log record keeps the connection's one string, not a copy per stream. */
  authority: string;
  peer?: Identity;
  security?: ConnectionSecurity;
  calmed: boolean;
}

/**
 * One delivered stream, and the only JavaScript object the server keeps per open tunnel: the
 * handler's handle (`close()` resets it), the tunnel's live byte counts (bytesRead: from the
 * client; frozen at its end) and the server's state. Every field is set in the constructor, so
 * the object keeps its shape (no out-of-object property store) when the decision fills in
 * `abort` and `onClose` (docs/hbone.md "Server side per tunnel").
 */
class NativeStream implements HboneStreamHandle {
  destroyed = false;
  answered = false;
  ended = false;
  abort: AbortController | undefined = undefined;
  onClose: ((outcome: SpliceOutcome) => void) | undefined = undefined;
  final: [number, number] | undefined = undefined;
  constructor(
    private readonly server: NativeHboneServer,
    readonly conn: number,
    readonly id: number,
  ) {}
  close(code: number = NGHTTP2_NO_ERROR): void {
    if (!this.destroyed) this.server.resetStream(this.conn, this.id, code);
  }
  private now(): [number, number] {
    return this.final ?? this.server.streamBytes(this.conn, this.id) ?? [0, 0];
  }
  get bytesRead(): number {
    return this.now()[0];
  }
  get bytesWritten(): number {
    return this.now()[1];
  }
}

function addressOf(ip: string, port: number): SocketAddress {
  return { ip: canonicalIp(ip) ?? ip, port };
}

/** The flat [name, value, ...] list from the addon as Node-style headers (repeats become arrays). */
function headersOf(method: string, authority: string, flat: readonly string[]): http2.IncomingHttpHeaders {
  const h: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  h[":method"] = method;
  if (authority) h[":authority"] = authority;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const prev = h[name];
    h[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return h as http2.IncomingHttpHeaders;
}

export class NativeHboneServer {
  private readonly settings: HboneSettings;
  private readonly addon: NativeHboneAddon;
  private readonly handle: NativeServerHandle;
  private readonly conns = new Map<number, Conn>();
  private readonly listeners = new Map<string, number>();
  private readonly illegalPorts: ReadonlySet<number>;
  private closing = false;
  private openStreams = 0;
  private accepted = 0;
  private rejected = 0;
  private streamsTotal = 0;
  private refused = 0;
  private refusedOverLimit = 0;
  private resetEarly = 0;
  private calmed = 0;
  private readonly rejectedByStatus: Record<number, number> = {};

  constructor(private readonly opts: HboneServerOptions) {
    if (opts.trustDomains.length === 0) throw new Error("hbone server: trustDomains: at least one trust domain is required");
    this.settings = settingsOrThrow(opts.settings);
    this.illegalPorts = new Set(opts.illegalPorts ?? []);
    const a = nativeHbone();
    if (!a.ok) throw a.error;
    this.addon = a.value;
    const st = this.settings;
    this.handle = this.addon.hboneServer(
      {
        streamWindow: st.streamWindowBytes,
        connectionWindow: st.connectionWindowBytes,
        maxFrame: st.maxFrameBytes,
        maxStreams: st.serverMaxConcurrentStreams,
        pingIntervalMs: st.pingIntervalMs,
        pingTimeoutMs: st.pingTimeoutMs,
        handshakeTimeoutMs: st.handshakeTimeoutMs,
      },
      this.onConnection.bind(this),
      this.onSecure.bind(this),
      this.onStream.bind(this),
      this.onStreamEnd.bind(this),
      this.onConnectionEnd.bind(this),
    );
  }

  /** Binds a native listener; resolves with the bound address (port 0 picks one). */
  listen(host: string, port: number): Promise<SocketAddress> {
    try {
      const l = this.addon.hboneListen(this.handle, host, port, 511);
      const bound = addressOf(host, l.port);
      this.listeners.set(formatAddress(bound), l.id);
      return Promise.resolve(bound);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** Takes over an accepted socket from Node (its fd is duplicated, Node's socket closed). */
  adopt(socket: net.Socket): void {
    socket.on("error", () => {});
    const h = (socket as unknown as { _handle?: { fd?: number; readStop?: () => number } })._handle;
    const fd = h?.fd;
    if (this.closing || socket.destroyed || typeof fd !== "number" || fd < 0 || socket.readableLength > 0) {
      if (!this.closing)
        log.warn({ remote: socket.remoteAddress }, "hbone native: cannot take over the accepted socket (no fd, or bytes already read)");
      this.rejected++;
      socket.destroy();
      return;
    }
    h?.readStop?.();
    let dup: number;
    try {
      dup = this.addon.hboneDupFd(fd);
    } catch (e) {
      log.warn({ err: e }, "hbone native: cannot take over the accepted socket, closing it");
      this.rejected++;
      socket.destroy();
      return;
    }
    socket.destroy();
    this.addon.hboneAdopt(this.handle, dup);
  }

  /** Closes the listener listen() bound on `address` (per-workload listeners follow local workloads). */
  unlisten(address: SocketAddress): void {
    const key = formatAddress(address);
    const id = this.listeners.get(key);
    if (id === undefined) return;
    this.listeners.delete(key);
    this.addon.hboneUnlisten(this.handle, id);
  }

  private onConnection(id: number, localIp: string, localPort: number, remoteIp: string, remotePort: number) {
    this.accepted++;
    const local = addressOf(localIp, localPort);
    const remote = addressOf(remoteIp, remotePort);
    const cert = this.closing ? undefined : this.opts.certificateFor(local.ip);
    const now = Date.now();
    const st = this.settings;
    this.conns.set(id, {
      id,
      local,
      remote,
      cert,
      openedAt: now,
      dials: new TokenBucket(st.connectBurst, st.connectsPerSecond, now),
      earlyResets: new TokenBucket(st.earlyResetBurst, st.earlyResetsPerSecond, now),
      streams: new Map(),
      authority: "",
      calmed: false,
    });
    if (cert) return this.contextFor(cert, local);
    if (this.closing) return undefined;
    const pending = this.opts.awaitCertificateFor?.(local.ip);
    if (!pending) {
      log.warn({ local: local.ip, remote: remote.ip }, "hbone: no workload certificate for local address, closing connection");
      return undefined;
    }
    this.awaitCertificate(id, local, pending);
    return true;
  }

  private contextFor(cert: WorkloadCertificate, local: SocketAddress): NativeContextHandle | undefined {
    const ctx = nativeContextFor(this.addon, cert);
    if (ctx.ok) return ctx.value;
    log.error({ err: ctx.error.message, local: local.ip }, "hbone native: workload certificate unusable, closing connection");
    return undefined;
  }

  /**
   * A just-enrolled workload's certificate is still being fetched: the addon holds the
   * connection (its ClientHello unread) until hboneStartTls, and closes it itself at the
   * handshake deadline, as the Node engine's server.ts waits.
   */
  private awaitCertificate(id: number, local: SocketAddress, pending: Promise<WorkloadCertificate | undefined>): void {
    const waitMs = this.settings.handshakeTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), waitMs)));
    const answer = (cert: WorkloadCertificate | undefined, why: string): void => {
      clearTimeout(timer);
      const conn = this.conns.get(id);
      if (!conn) return; // closed meanwhile (deadline, client gone, server closed)
      const ctx = cert && !this.closing ? this.contextFor(cert, local) : undefined;
      if (ctx) conn.cert = cert;
      else
        log.warn(
          { local: local.ip, remote: conn.remote.ip, reason: why },
          "hbone: no workload certificate for local address, closing connection",
        );
      this.addon.hboneStartTls(this.handle, id, ctx ?? null, ctx ? "" : why);
    };
    void Promise.race([pending, timeout]).then(
      (c) =>
        c === "timeout"
          ? answer(undefined, `certificate not available within ${waitMs} ms`)
          : answer(c, c ? "workload certificate unusable" : "no certificate issued for the workload"),
      (e: Error) => answer(undefined, `certificate fetch failed: ${e.message}`),
    );
  }

  private onSecure(id: number, alpn: string, ders: Buffer[]): boolean {
    const conn = this.conns.get(id);
    if (!conn?.cert) return false;
    const fail = (why: string) => {
      log.info({ local: conn.local.ip, remote: conn.remote.ip, reason: why }, "hbone: connection refused");
      return false;
    };
    if (alpn !== "h2") return fail(`alpn ${JSON.stringify(alpn)}, want h2`);
    let chain: X509Certificate[];
    try {
      chain = ders.map((d) => new X509Certificate(d));
    } catch (e) {
      return fail(`peer certificate: ${(e as Error).message}`);
    }
    const verified = verifyChain(chain, conn.cert);
    if (!verified.ok) return fail(verified.error.message);
    const peer = acceptClient(verified.value, { trustDomains: this.opts.trustDomains });
    if (!peer.ok) return fail(peer.error.message);
    if (this.closing) return fail("server shutting down");
    conn.peer = peer.value;
    conn.security = { protocol: "TLSv1.3", peerIdentity: peer.value };
    return true;
  }

  private onConnectionEnd(id: number, reason: string): void {
    const conn = this.conns.get(id);
    if (!conn) return;
    this.conns.delete(id);
    if (!conn.peer) {
      this.rejected++;
      log.debug({ remote: conn.remote.ip, reason }, "hbone native: connection closed before http/2");
    } else log.debug({ remote: conn.remote.ip, reason }, "hbone native: connection closed");
  }

  private onStream(id: number, sid: number, method: string, authorityIn: string, flat: string[]): void {
    const conn = this.conns.get(id);
    if (!conn?.peer || !conn.security) return this.resetStream(id, sid, NGHTTP2_CANCEL);
    // The addon makes a new string per stream; the tunnels of a connection mostly share one.
    const authority = authorityIn === conn.authority ? conn.authority : (conn.authority = authorityIn);
    const st = new NativeStream(this, id, sid);
    conn.streams.set(sid, st);
    this.streamsTotal++;
    this.openStreams++;
    const target = checkConnect(method, authority, conn.local.port, this.illegalPorts);
    if (!target.ok) {
      if (target.selfCall) log.info({ peer: toUri(conn.peer), authority }, "hbone: CONNECT to a proxy listener port refused (self call)");
      return this.reply(conn, sid, st, target.status, target.reason);
    }
    if (conn.calmed) return this.refuse(conn, sid, st);
    if (!conn.dials.take(Date.now())) {
      log.info({ peer: toUri(conn.peer), remote: conn.remote.ip }, "hbone: connection's upstream dial budget spent, stream refused");
      return this.refuse(conn, sid, st);
    }
    const headers = headersOf(method, authority, flat);
    const abort = new AbortController();
    st.abort = abort;
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
      stream: st,
      tunnelBytes: st,
      signal: abort.signal,
      upstreamForm: "fd",
    };
    void this.decide(conn, sid, st, req);
  }

  private async decide(conn: Conn, sid: number, st: NativeStream, req: HboneStreamRequest): Promise<void> {
    let decision: HboneDecision;
    try {
      decision = await this.opts.handler(req);
    } catch (e) {
      log.warn({ err: e, authority: req.authority }, "hbone handler failed");
      decision = { kind: "reject", status: 503, reason: `handler failed: ${(e as Error).message}` };
    }
    st.abort = undefined;
    if (decision.kind === "reject") return this.reply(conn, sid, st, decision.status, decision.reason);
    if (decision.kind === "terminate") return this.terminate(conn, sid, st, decision.serve);
    const { upstream, onClose } = decision;
    if (st.ended) {
      if (upstream instanceof UpstreamFd) upstream.reset();
      else resetDuplex(upstream);
      onClose?.({ error: new Error("hbone: stream closed before the tunnel was established") });
      return;
    }
    // The handler's own dial (Dialer.dialFd) is the fd as is; a socket (a handler that dials in
    // Node, e.g. tests) is taken over: its fd duplicated and Node's socket destroyed.
    const taken =
      upstream instanceof UpstreamFd
        ? { ok: true as const, fd: upstream.take(), initial: null }
        : takeOverSocket(this.addon, upstream, "upstream");
    if (!taken.ok) {
      resetDuplex(upstream as Duplex);
      onClose?.({ error: new Error(taken.reason) });
      return this.reply(conn, sid, st, 503, taken.reason);
    }
    st.answered = true;
    // hboneAnswer owns the fd whatever it returns (closed with a reset if the stream is gone).
    if (!this.addon.hboneAnswer(this.handle, conn.id, sid, 200, taken.fd, taken.initial)) {
      st.destroyed = true;
      onClose?.({ error: new Error("hbone: stream closed before the tunnel was established") });
      return;
    }
    if (onClose) st.onClose = onClose;
  }

  /**
   * A terminated tunnel (the waypoint): the addon splices the stream with one end of a socket
   * pair, as with an upstream, and `serve` gets the other end as a Node socket on a native handle
   * (Node's HTTP parser then reads it without a JavaScript stream in between). A client's reset
   * or a lost connection reaches the socket as an error; `reset` is RST_STREAM.
   */
  private terminate(conn: Conn, sid: number, st: NativeStream, serve: (t: TerminatedTunnel) => void): void {
    if (st.ended) return;
    let pair: [number, number];
    try {
      pair = this.addon.hboneSocketPair();
    } catch (e) {
      return this.reply(conn, sid, st, 503, `native engine: socket pair: ${(e as Error).message}`);
    }
    const [ours, theirs] = pair;
    st.answered = true;
    // The addon owns `ours` from here, also when it refuses (the stream ended meanwhile).
    if (!this.addon.hboneAnswer(this.handle, conn.id, sid, 200, ours, null)) {
      st.destroyed = true;
      closeFd(theirs);
      return;
    }
    const socket = new net.Socket({ fd: theirs, readable: true, writable: true, allowHalfOpen: true });
    socket.on("error", ignoreError); // surfaces to the user's own listeners; never uncaught
    st.onClose = (outcome) => {
      if (outcome.error && !socket.destroyed) socket.destroy(outcome.error);
    };
    serve({
      stream: socket,
      reset: (code) => {
        socket.destroy();
        st.close(code);
      },
    });
  }

  private onStreamEnd(id: number, sid: number, bytesIn: number, bytesOut: number, code: number, answered: boolean): void {
    const conn = this.conns.get(id);
    const st = conn?.streams.get(sid);
    if (!st) {
      // Never delivered: refused by the addon itself (over the concurrency limit), or reset in
      // the same read as its HEADERS (rapid reset).
      if (answered) this.refusedOverLimit++;
      else if (conn) this.onEarlyReset(conn);
      return;
    }
    conn!.streams.delete(sid);
    this.openStreams--;
    st.ended = true;
    st.destroyed = true;
    st.final = [bytesIn, bytesOut];
    if (!st.answered) {
      st.abort?.abort(new Error("hbone: stream closed before the tunnel was established"));
      this.onEarlyReset(conn!);
      return;
    }
    st.onClose?.(code === NGHTTP2_NO_ERROR ? {} : { error: new Error(`hbone: stream reset (HTTP/2 error code ${code})`) });
  }

  /** See server.ts: past the connection's early-reset budget, GOAWAY(ENHANCE_YOUR_CALM) and close. */
  private onEarlyReset(conn: Conn): void {
    this.resetEarly++;
    if (conn.calmed || conn.earlyResets.take(Date.now())) return;
    conn.calmed = true;
    this.calmed++;
    log.warn(
      { peer: conn.peer ? toUri(conn.peer) : undefined, remote: conn.remote.ip },
      "hbone: client resets streams before their answer too often, closing the connection",
    );
    this.addon.hboneGoaway(this.handle, conn.id, NGHTTP2_ENHANCE_YOUR_CALM, false);
  }

  /** A stream's [bytes from the client, bytes to the client] while the addon has it. */
  streamBytes(conn: number, sid: number): [number, number] | null {
    return this.addon.hboneStreamBytes(this.handle, conn, sid);
  }

  /** RST_STREAM for a stream (policy close, refusals). */
  resetStream(conn: number, sid: number, code: number): void {
    this.addon.hboneReset(this.handle, conn, sid, code);
  }

  private refuse(conn: Conn, sid: number, st: NativeStream): void {
    this.refused++;
    st.answered = true;
    this.resetStream(conn.id, sid, NGHTTP2_REFUSED_STREAM);
  }

  private reply(conn: Conn, sid: number, st: NativeStream, status: number, reason: string): void {
    this.rejectedByStatus[status] = (this.rejectedByStatus[status] ?? 0) + 1;
    log.debug({ status, reason }, "hbone: stream rejected");
    if (st.ended) return;
    st.answered = true;
    this.addon.hboneAnswer(this.handle, conn.id, sid, status, -1, null);
  }

  stats(): HboneServerStats {
    let sessions = 0;
    for (const c of this.conns.values()) if (c.peer) sessions++;
    return {
      connections: this.conns.size,
      sessions,
      streams: this.openStreams,
      connectionsAccepted: this.accepted,
      connectionsRejected: this.rejected,
      streamsTotal: this.streamsTotal,
      streamsRejected: { ...this.rejectedByStatus },
      streamsRefused: this.refused,
      streamsRefusedOverLimit: this.refusedOverLimit,
      streamsResetEarly: this.resetEarly,
      connectionsCalmed: this.calmed,
      protocolErrorsKept: 0,
    };
  }

  dump(): HboneServerConnectionDump[] {
    return [...this.conns.values()]
      .filter((c) => c.peer)
      .map((c) => ({
        peerIdentity: toUri(c.peer!),
        local: formatAddress(c.local),
        remote: formatAddress(c.remote),
        activeStreams: c.streams.size,
        openedAt: new Date(c.openedAt).toISOString(),
      }));
  }

  /** Stops accepting, GOAWAY to every client, waits for open tunnels until `deadlineMs`, then closes what is left. */
  async close(deadlineMs = 5_000): Promise<void> {
    this.closing = true;
    this.listeners.clear();
    this.addon.hboneClose(this.handle, false);
    const started = Date.now();
    while (this.conns.size > 0 && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    this.addon.hboneClose(this.handle, true);
  }
}

function closeFd(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}
