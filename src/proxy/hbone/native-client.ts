/**
 * The HBONE client on the native engine (docs/hbone.md "Native engine", client side): the addon
 * (native/hbone_client.c) does TCP, TLS 1.3 mTLS, HTTP/2 and, once a CONNECT is answered 200,
 * moves the tunnel's bytes between the application's socket (its fd handed over) and the stream
 * without JavaScript. Every decision stays here and in the pool (pool.ts, which is the same for
 * both engines): the pool key and connection choice, the certificate presented (one SSL_CTX per
 * WorkloadCertificate, shared with the native server: a rotated certificate is used by new
 * connections), the server's identity (OpenSSL verifies the chain against the certificate's
 * roots, then `acceptServer` of tls-context.ts checks the SPIFFE SAN, as the Node client's
 * checkServerIdentity does), the CONNECT's headers (`connectHeaders`, byte for byte the Node
 * client's), and what every outcome means (HboneError codes as client.ts maps them).
 */
import net from "node:net";
import { X509Certificate } from "node:crypto";
import http2 from "node:http2";
import { type Result, ok, err } from "../../common/result.js";
import type { Identity } from "../../common/spiffe.js";
import { type SocketAddress, canonicalIp, formatAddress } from "../../common/net/addr.js";
import { HboneError, connectError, connectTimeout, tlsError } from "./errors.js";
import { type TunnelRequest, connectHeaders } from "./headers.js";
import type { ConnectionSecurity } from "./connection-security.js";
import { PingTimeoutError } from "./keepalive.js";
import { type NativeContextHandle, type NativeHboneAddon, nativeContextFor, nativeHbone } from "./native-addon.js";
import { takeOverSocket } from "./native-fd.js";
import type { PoolConnection, PoolDialOptions } from "./pool-connection.js";
import type { HboneSettings } from "./settings.js";
import { type SpliceOutcome, ignoreError, resetDuplex } from "./splice.js";
import { acceptServer } from "./tls-context.js";

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

export type NativeClientHandle = { readonly __nativeHboneClient: unique symbol };

export interface NativeClientOptions {
  readonly streamWindow: number;
  readonly connectionWindow: number;
  readonly maxFrame: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

/** The client's part of the addon (native/hbone_client.c). */
export interface NativeHboneClientAddon {
  hboneClient(
    options: NativeClientOptions,
    onSecure: (conn: number, alpn: string, chain: Buffer[]) => boolean,
    onEvent: (kind: number, conn: number, stream: number, n1: number, n2: number, n3: number, text: string) => void,
  ): NativeClientHandle;
  hboneClientDial(client: NativeClientHandle, ctx: NativeContextHandle, ip: string, port: number, sourceIp: string): number;
  hboneClientOpen(client: NativeClientHandle, conn: number, headers: string[]): number;
  hboneClientAttach(client: NativeClientHandle, conn: number, stream: number, fd: number, initial: Buffer | null): boolean;
  hboneClientReset(client: NativeClientHandle, conn: number, stream: number, code: number): void;
  hboneClientClose(client: NativeClientHandle, conn: number, graceful: boolean): void;
  hboneClientStreamBytes(client: NativeClientHandle, conn: number, stream: number): [number, number] | null;
  hboneSocketPair(): [number, number];
}

type Addon = NativeHboneAddon & NativeHboneClientAddon;

/** Event kinds, as hbone_client.c numbers them. */
const EV_READY = 1;
const EV_SETTINGS = 2;
const EV_GOAWAY = 3;
const EV_RESPONSE = 4;
const EV_STREAM_END = 5;
const EV_CONN_END = 6;
/** Phases of EV_CONN_END. */
const PHASE_CONNECT = 0;
const PHASE_TLS = 1;
const ETIMEDOUT = 110;

/** Why a connection closed, as the Node engine reports it (none for an ordinary end). */
function closeError(target: string, reason: string): Error | undefined {
  if (reason === "closed by the pool" || reason === "session ended") return undefined;
  if (reason.startsWith("no ping answer")) return new PingTimeoutError(`hbone: ${reason}, dropping connection`);
  return new Error(`hbone: connection ${target}: ${reason}`);
}

function closedEarly(target: string): HboneError {
  return tlsError(target, new Error("connection closed by the server right after the handshake (was our certificate refused?)"));
}

/** One CONNECT on a native connection; after its 200, the tunnel to splice an application socket with. */
export class NativeTunnel {
  private state: "asked" | "open" | "ended" = "asked";
  private answer: ((r: Result<NativeTunnel, HboneError>) => void) | undefined;
  private spliced: ((o: SpliceOutcome) => void) | undefined;
  private duplexSide: net.Socket | undefined;
  private final: [number, number] | undefined;
  private endCode = NGHTTP2_NO_ERROR;
  /** Called once the stream ended (the pool's slot release). */
  onEnd: (() => void) | undefined;

  constructor(
    private readonly conn: NativeConnection,
    readonly id: number,
  ) {}

  /** The connection's TLS record (TLS 1.3 only, the server's verified identity). */
  get security(): ConnectionSecurity {
    return this.conn.security;
  }

  /** Byte counts of the application side: bytesRead from it, bytesWritten to it. */
  get bytesRead(): number {
    return this.bytes()[0];
  }
  get bytesWritten(): number {
    return this.bytes()[1];
  }
  private bytes(): [number, number] {
    return this.final ?? this.conn.streamBytes(this.id) ?? [0, 0];
  }

  get ended(): boolean {
    return this.state === "ended";
  }

  /** @internal the CONNECT's outcome. */
  wait(signal: AbortSignal | undefined, target: string): Promise<Result<NativeTunnel, HboneError>> {
    return new Promise((resolve) => {
      const onAbort = () => {
        this.conn.reset(this.id, NGHTTP2_CANCEL);
        settle(err(new HboneError("HBONE_STREAM", `hbone: connect ${target}: aborted`, { cause: signal?.reason })));
      };
      const settle = (r: Result<NativeTunnel, HboneError>) => {
        if (!this.answer) return;
        this.answer = undefined;
        signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      this.answer = settle;
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** @internal the server's answer. */
  responded(status: number, target: string): void {
    if (status === 200) {
      this.state = "open";
      this.answer?.(ok(this));
    } else this.answer?.(err(new HboneError("HBONE_STATUS", `hbone: connect ${target}: server answered ${status}`, { status })));
  }

  /** @internal the stream's end (bytes from/to the application, the HTTP/2 code). */
  finished(bytesRead: number, bytesWritten: number, code: number, target: string, beforeSettings: boolean): void {
    const wasAsked = this.state === "asked";
    this.state = "ended";
    this.final = [bytesRead, bytesWritten];
    this.endCode = code;
    if (wasAsked && this.answer) {
      this.answer(
        err(
          beforeSettings
            ? closedEarly(target)
            : new HboneError("HBONE_STREAM", `hbone: connect ${target}: stream closed before a response (rst code ${code})`, {
                refusedStream: code === NGHTTP2_REFUSED_STREAM,
              }),
        ),
      );
    }
    const outcome = code === NGHTTP2_NO_ERROR ? {} : { error: new Error(`hbone: stream reset (HTTP/2 error code ${code})`) };
    if (this.duplexSide && outcome.error && !this.duplexSide.destroyed) this.duplexSide.destroy(outcome.error);
    this.spliced?.(outcome);
    this.spliced = undefined;
    const fn = this.onEnd;
    this.onEnd = undefined;
    fn?.();
  }

  /**
   * Splices `socket` (the application's TCP connection) with the tunnel in the addon: its fd is
   * taken over (Node's socket object is destroyed, the connection stays). Resolves at the
   * stream's end; a reset (either way) is an error, and the application then sees a TCP RST.
   */
  splice(socket: net.Socket): Promise<SpliceOutcome> {
    if (this.state !== "open") {
      resetDuplex(socket);
      return Promise.resolve({ error: new Error("hbone: stream closed before the tunnel was spliced") });
    }
    const taken = takeOverSocket(this.conn.addon, socket, "client");
    if (!taken.ok) {
      resetDuplex(socket);
      this.destroy();
      return Promise.resolve({ error: new Error(taken.reason) });
    }
    return this.attach(taken.fd, taken.initial);
  }

  /**
   * Splices a connection accepted in the addon (native-listener.ts) with the tunnel: no Node
   * socket ever existed for it. The addon owns `fd` from here, also when the stream ended
   * meanwhile (then the application is reset). `onEnd` is called once, as `splice` resolves.
   */
  attachFd(fd: number, onEnd: (o: SpliceOutcome) => void): void {
    this.attachWith(fd, null, onEnd);
  }

  private attach(fd: number, initial: Buffer | null): Promise<SpliceOutcome> {
    return new Promise<SpliceOutcome>((r) => this.attachWith(fd, initial, r));
  }

  private attachWith(fd: number, initial: Buffer | null, onEnd: (o: SpliceOutcome) => void): void {
    this.spliced = onEnd;
    // The addon owns fd from here, also when it refuses (the stream ended meanwhile).
    if (!this.conn.attach(this.id, fd, initial) && this.spliced) {
      this.spliced = undefined;
      onEnd({ error: new Error("hbone: stream closed before the tunnel was spliced") });
    }
  }

  /**
   * The tunnel as a Node Duplex (one end of a socket pair spliced in the addon): for users that
   * need a stream object rather than a socket to hand over. A reset reaches it as an error.
   */
  duplex(): net.Socket {
    const [a, b] = this.conn.addon.hboneSocketPair();
    const side = new net.Socket({ fd: b, readable: true, writable: true, allowHalfOpen: true });
    this.duplexSide = side;
    side.on("error", ignoreError);
    // attach takes `a` over in every case; a stream that ended already closes it at once.
    void this.attach(a, null);
    if (this.state !== "open") side.destroy(new Error("hbone: stream closed before the tunnel was spliced"));
    return side;
  }

  /** Abandons the tunnel (RST_STREAM(CANCEL)); the application side, if attached, is reset. */
  destroy(): void {
    if (this.state !== "ended") this.conn.reset(this.id, NGHTTP2_CANCEL);
  }

  /** The HTTP/2 code the stream ended with (NO_ERROR while open). */
  get rstCode(): number {
    return this.endCode;
  }
}

/** One pooled native HBONE connection. */
class NativeConnection implements PoolConnection<NativeTunnel> {
  peer: Identity | undefined;
  failure: HboneError | undefined;
  localAddress: SocketAddress = { ip: "", port: 0 };
  security: ConnectionSecurity = { protocol: "TLSv1.3" };
  private maxStreams: number | undefined;
  private gotSettings = false;
  private ended = false;
  private readonly tunnels = new Map<number, NativeTunnel>();
  private readonly goawayFns: (() => void)[] = [];
  private closeFn: ((error?: Error) => void) | undefined;
  dialed: ((r: Result<PoolConnection<NativeTunnel>, HboneError>) => void) | undefined;
  readonly target: string;

  constructor(
    private readonly client: NativeHboneClient,
    readonly id: number,
    readonly remoteAddress: SocketAddress,
    readonly expected: readonly Identity[],
    private readonly connectTimeoutMs: number,
  ) {
    this.target = formatAddress(remoteAddress);
  }

  get addon(): Addon {
    return this.client.addon;
  }
  get peerIdentity(): Identity {
    return this.peer!;
  }
  get closed(): boolean {
    return this.ended;
  }
  peerMaxConcurrentStreams(): number | undefined {
    return this.maxStreams;
  }

  open(req: TunnelRequest, signal?: AbortSignal): Promise<Result<NativeTunnel, HboneError>> {
    const target = formatAddress(req.target);
    const headers = connectHeaders(req);
    if (!headers.ok) return Promise.resolve(err(new HboneError("HBONE_STREAM", headers.error.message, { cause: headers.error })));
    const flat: string[] = [];
    for (const [name, value] of Object.entries(headers.value)) flat.push(name, String(value));
    const sid = this.ended ? -1 : this.addon.hboneClientOpen(this.client.handle, this.id, flat);
    if (sid < 0)
      return Promise.resolve(err(new HboneError("HBONE_STREAM", `hbone: connect ${target}: cannot open stream: connection closed`)));
    const t = new NativeTunnel(this, sid);
    this.tunnels.set(sid, t);
    return t.wait(signal, target);
  }

  onTunnelClosed(t: NativeTunnel, fn: () => void): void {
    if (t.ended) fn();
    else t.onEnd = fn;
  }
  onGoaway(fn: () => void): void {
    this.goawayFns.push(fn);
  }
  onClose(fn: (error?: Error) => void): void {
    this.closeFn = fn;
  }
  close(): void {
    if (!this.ended) this.addon.hboneClientClose(this.client.handle, this.id, true);
  }
  destroy(): void {
    if (!this.ended) this.addon.hboneClientClose(this.client.handle, this.id, false);
  }

  reset(sid: number, code: number): void {
    if (!this.ended) this.addon.hboneClientReset(this.client.handle, this.id, sid, code);
  }
  attach(sid: number, fd: number, initial: Buffer | null): boolean {
    return this.addon.hboneClientAttach(this.client.handle, this.id, sid, fd, initial);
  }
  streamBytes(sid: number): [number, number] | null {
    return this.ended ? null : this.addon.hboneClientStreamBytes(this.client.handle, this.id, sid);
  }

  event(kind: number, sid: number, n1: number, n2: number, n3: number, text: string): void {
    switch (kind) {
      case EV_READY:
        this.localAddress = { ip: canonicalIp(text) ?? text, port: n1 };
        this.security = { protocol: "TLSv1.3", ...(this.peer ? { peerIdentity: this.peer } : {}) };
        this.dialed?.(ok(this));
        this.dialed = undefined;
        return;
      case EV_SETTINGS:
        this.gotSettings = true;
        this.maxStreams = n1;
        return;
      case EV_GOAWAY:
        for (const fn of this.goawayFns.splice(0)) fn();
        return;
      case EV_RESPONSE:
        this.tunnels.get(sid)?.responded(n1, this.target);
        return;
      case EV_STREAM_END: {
        const t = this.tunnels.get(sid);
        if (!t) return;
        this.tunnels.delete(sid);
        t.finished(n1, n2, n3, this.target, !this.gotSettings && n3 === NGHTTP2_CANCEL);
        return;
      }
      case EV_CONN_END:
        this.ended = true;
        this.client.forget(this.id);
        if (this.dialed) {
          this.dialed(err(this.dialError(n1, n2, text)));
          this.dialed = undefined;
          return;
        }
        this.closeFn?.(closeError(this.target, text));
        return;
    }
  }

  private dialError(phase: number, errno: number, text: string): HboneError {
    if (phase === PHASE_CONNECT) {
      if (errno === ETIMEDOUT && text.startsWith("timed out")) return connectTimeout(this.target, this.connectTimeoutMs);
      return connectError(this.target, Object.assign(new Error(`connect ${text} ${this.target}`), { code: text }));
    }
    if (phase === PHASE_TLS) return this.failure ?? tlsError(this.target, new Error(text));
    return closedEarly(this.target);
  }
}

/**
 * Clients with open connections. The addon's client state is freed when its handle is collected,
 * and its connections' callbacks use it: a pool dropped without close() must not let that happen
 * while a connection is still open.
 */
const live = new Set<NativeHboneClient>();

/** A pool's native HBONE client: its connections, the addon's callbacks routed to them. */
export class NativeHboneClient {
  readonly addon: Addon;
  readonly handle: NativeClientHandle;
  private readonly conns = new Map<number, NativeConnection>();

  constructor(private readonly settings: HboneSettings) {
    const a = nativeHbone();
    if (!a.ok) throw a.error;
    const addon = a.value as Addon;
    if (typeof addon.hboneClient !== "function") throw new Error("native addon: built without the HBONE client: run scripts/setup.sh");
    this.addon = addon;
    this.handle = addon.hboneClient(
      {
        streamWindow: settings.streamWindowBytes,
        connectionWindow: settings.connectionWindowBytes,
        maxFrame: settings.maxFrameBytes,
        pingIntervalMs: settings.pingIntervalMs,
        pingTimeoutMs: settings.pingTimeoutMs,
        handshakeTimeoutMs: settings.handshakeTimeoutMs,
        connectTimeoutMs: settings.connectTimeoutMs,
      },
      this.onSecure.bind(this),
      this.onEvent.bind(this),
    );
  }

  /** Opens one connection (TCP + mTLS + HTTP/2); resolves once the server's identity is accepted. */
  dial(opts: PoolDialOptions): Promise<Result<PoolConnection<NativeTunnel>, HboneError>> {
    const target = formatAddress(opts.destination);
    const ctx = nativeContextFor(this.addon, opts.source);
    if (!ctx.ok) return Promise.resolve(err(tlsError(target, ctx.error)));
    let id: number;
    try {
      id = this.addon.hboneClientDial(this.handle, ctx.value, opts.destination.ip, opts.destination.port, opts.localAddress ?? "");
    } catch (e) {
      return Promise.resolve(err(connectError(target, e)));
    }
    const conn = new NativeConnection(this, id, opts.destination, opts.expected, this.settings.connectTimeoutMs);
    this.conns.set(id, conn);
    live.add(this);
    return new Promise((resolve) => (conn.dialed = resolve));
  }

  forget(id: number): void {
    this.conns.delete(id);
    if (this.conns.size === 0) live.delete(this);
  }

  private onSecure(id: number, alpn: string, ders: Buffer[]): boolean {
    const conn = this.conns.get(id);
    if (!conn) return false;
    if (alpn !== "h2") {
      conn.failure = new HboneError("HBONE_ALPN", `hbone: ${conn.target}: server negotiated alpn ${JSON.stringify(alpn)}, want h2`);
      return false;
    }
    let leaf: X509Certificate | undefined;
    try {
      leaf = ders[0] ? new X509Certificate(ders[0]) : undefined;
    } catch (e) {
      conn.failure = tlsError(conn.target, e);
      return false;
    }
    const r = acceptServer(leaf, { expected: conn.expected });
    if (!r.ok) {
      conn.failure = r.error;
      return false;
    }
    conn.peer = r.value;
    return true;
  }

  private onEvent(kind: number, id: number, sid: number, n1: number, n2: number, n3: number, text: string): void {
    this.conns.get(id)?.event(kind, sid, n1, n2, n3, text);
  }
}
