/**
 * Upstream connections of the waypoint, reused across requests: per (endpoint, downstream
 * client) an HTTP/1.1 keep-alive pool (undici) and an HTTP/2 session, each carried by a tunnel
 * from `TunnelOpener` (HBONE through the shared pool to `<endpoint IP>:15008`, or plain TCP to a
 * workload that is not in the mesh). The client is part of the key because the HBONE CONNECT
 * carries `forwarded: for=<client>` (Istio), which is per connection.
 *
 * HTTP/1.1 is undici's client (docs/dependencies.md): its connector is handed the tunnel this
 * module opens, whatever it is (a TCP socket, the native engine's socket-pair socket, or Node's
 * HTTP/2 stream of an HBONE tunnel, which undici drives as the Duplex it is, strings turned into
 * Buffers by buffers-only.ts). The ext_authz HTTP check stays on Node's client (`agent`): it
 * forwards the downstream's headers as they are, and undici refuses some of them by name
 * (`expect`, `connection`, `keep-alive`, `transfer-encoding`, `upgrade`).
 *
 * The cluster's connection settings apply per key: `connect_timeout` bounds each tunnel dial,
 * `max_requests_per_connection` retires a connection after that many requests (HTTP/1.1: the
 * last one is sent with `connection: close`; HTTP/2: the session leaves the cache and closes once
 * its streams end), `idle_timeout` replaces IDLE_MS for idle keep-alive connections (a server's
 * `keep-alive: timeout=N` hint shortens it to N-1 s, as Node's Agent does). An HTTP/1.1 pool
 * keeps every idle connection until then (no bound like the Agent's maxFreeSockets 64).
 *
 * Invariants: at most one HTTP/2 session dial in flight per key; a session leaves the cache
 * when it closes or receives GOAWAY; pools, agents and sessions idle for IDLE_MS are released; a
 * failed tunnel (or one slower than the connect timeout) is an error tagged "UF" (connect
 * failure) for errors.ts.
 */
import http from "node:http";
import http2 from "node:http2";
import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { type Dispatcher, Pool } from "undici";
import { logger } from "../../common/log.js";
import type { Result } from "../../common/result.js";
import type { Cluster } from "../envoy/types.js";
import { buffersOnly } from "./buffers-only.js";

const log = logger("waypoint.upstream");

export const IDLE_MS = 60_000;
/** How often idle entries are looked for (a cluster's idle_timeout is honoured to this precision). */
const SWEEP_MS = 5_000;

/** Opens a byte stream to the endpoint (HBONE tunnel or TCP), for one upstream connection. */
export type TunnelOpener = () => Promise<Result<Duplex, Error>>;

/** An error the upstream connect produced (before any request byte was sent). */
export class ConnectFailure extends Error {
  readonly failure = "UF" as const;
}

/** The cluster settings that shape its upstream connections. */
export type ConnectionSettings = Pick<Cluster, "connectTimeoutMs" | "httpOptions">;

/** `open` bounded by the connect timeout; a tunnel that arrives too late is closed. */
export function dialWithTimeout(open: TunnelOpener, timeoutMs: number): Promise<Result<Duplex, Error>> {
  if (!(timeoutMs > 0)) return open();
  return new Promise((resolve) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      resolve({ ok: false, error: new Error(`connect timeout after ${timeoutMs} ms (cluster connect_timeout)`) });
    }, timeoutMs);
    void open().then((r) => {
      if (!done) {
        clearTimeout(timer);
        done = true;
        return resolve(r);
      }
      if (r.ok) r.value.destroy();
    });
  });
}

/**
 * http.Agent calls these on pooled sockets (undici and http2.connect call only those that
 * exist); an HTTP/2 stream (the HBONE tunnel) has no keep-alive, Nagle or ref counting of its
 * own (the HBONE session has), so they are no-ops.
 */
export function socketLike(d: Duplex): Socket {
  const s = buffersOnly(d) as Duplex & Partial<Socket>;
  s.setKeepAlive ??= () => s as Socket;
  s.setNoDelay ??= () => s as Socket;
  s.ref ??= () => s as Socket;
  s.unref ??= () => s as Socket;
  return s as Socket;
}

/** The origin undici is given; never dialled (the connector opens tunnels), never sent (requests carry `host`). */
const ORIGIN = "http://upstream";
/** Node's Agent reuses a connection until 1 s before the server's announced keep-alive timeout; so does the pool. */
const KEEP_ALIVE_HINT_MARGIN_MS = 1_000;

interface Entry {
  /** HTTP/1.1 connections of the request path and mirrors. */
  pool?: Pool;
  /** HTTP/1.1 connections of ext_authz HTTP checks (Node's client; see the header). */
  agent?: http.Agent;
  session?: http2.ClientHttp2Session;
  /** Streams started on `session` (max_requests_per_connection). */
  sessionStreams: number;
  dialing?: Promise<Result<http2.ClientHttp2Session, Error>>;
  lastUsed: number;
  idleMs: number;
}

export class UpstreamConnections {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private opened = 0;

  constructor() {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  private entry(key: string, settings?: ConnectionSettings): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = { lastUsed: Date.now(), sessionStreams: 0, idleMs: settings?.httpOptions.idleTimeoutMs ?? IDLE_MS };
      this.entries.set(key, e);
    }
    e.lastUsed = Date.now();
    return e;
  }

  /** A keep-alive pool (undici) whose connections are tunnels from `open`; one request per connection at a time. */
  pool(key: string, open: TunnelOpener, settings?: ConnectionSettings): Dispatcher {
    const e = this.entry(key, settings);
    if (e.pool) return e.pool;
    const max = settings?.httpOptions.maxRequestsPerConnection;
    e.pool = new Pool(ORIGIN, {
      connect: (_o, cb) => {
        void this.dial(open, settings).then((r) => (r.ok ? cb(null, r.value) : cb(r.error, null)));
      },
      connections: null,
      pipelining: 1,
      // Node's client has no header or body timeout: the route's timeouts (resilience/timeout.ts) are the only ones.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: e.idleMs,
      keepAliveMaxTimeout: e.idleMs,
      keepAliveTimeoutThreshold: KEEP_ALIVE_HINT_MARGIN_MS,
      // undici counts as the retired Agent did: the max-th request goes with `connection: close`.
      ...(max ? { maxRequestsPerClient: max } : {}),
    });
    return e.pool;
  }

  /** A keep-alive agent whose connections are tunnels from `open` (ext_authz HTTP checks). */
  agent(key: string, open: TunnelOpener, settings?: ConnectionSettings): http.Agent {
    const e = this.entry(key, settings);
    if (e.agent) return e.agent;
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: e.idleMs, scheduling: "lifo" });
    // Node's Agent accepts an asynchronous createConnection through its callback form.
    (agent as unknown as { createConnection: (o: unknown, cb: (e: Error | null, s?: Socket) => void) => undefined }).createConnection = (
      _o,
      cb,
    ) => {
      void this.dial(open, settings).then((r) => (r.ok ? cb(null, r.value) : cb(r.error)));
      return undefined;
    };
    e.agent = agent;
    return agent;
  }

  /** One upstream connection (HTTP/1.1 or an HTTP/2 session's): a tunnel within the connect timeout, counted, or a ConnectFailure. */
  private async dial(open: TunnelOpener, settings?: ConnectionSettings): Promise<Result<Socket, ConnectFailure>> {
    const r = await dialWithTimeout(open, settings?.connectTimeoutMs ?? 0);
    if (!r.ok) return { ok: false, error: new ConnectFailure(r.error.message, { cause: r.error }) };
    this.opened++;
    return { ok: true, value: socketLike(r.value) };
  }

  /** An HTTP/2 session (prior knowledge) over a tunnel from `open`, shared by concurrent requests; call once per stream. */
  async session(key: string, open: TunnelOpener, settings?: ConnectionSettings): Promise<Result<http2.ClientHttp2Session, Error>> {
    const e = this.entry(key, settings);
    const r = await this.sessionOf(e, key, open, settings);
    const max = settings?.httpOptions.maxRequestsPerConnection;
    if (r.ok && max && ++e.sessionStreams >= max && e.session === r.value) {
      // The caller opens its stream synchronously after this resolves; then no new ones.
      e.session = undefined;
      setImmediate(() => r.value.close());
    }
    return r;
  }

  private async sessionOf(
    e: Entry,
    key: string,
    open: TunnelOpener,
    settings?: ConnectionSettings,
  ): Promise<Result<http2.ClientHttp2Session, Error>> {
    if (e.session && !e.session.closed && !e.session.destroyed) return { ok: true, value: e.session };
    if (e.dialing) return e.dialing;
    e.dialing = (async (): Promise<Result<http2.ClientHttp2Session, Error>> => {
      const t = await this.dial(open, settings);
      if (!t.ok) return t;
      const session = http2.connect("http://upstream", { createConnection: () => t.value });
      session.on("error", (err) => log.debug({ err, key }, "upstream h2 session error"));
      const drop = () => {
        if (e.session === session) e.session = undefined;
      };
      session.once("close", drop);
      session.once("goaway", drop);
      e.session = session;
      e.sessionStreams = 0;
      return { ok: true, value: session };
    })();
    try {
      return await e.dialing;
    } finally {
      e.dialing = undefined;
    }
  }

  stats(): { keys: number; connectionsOpened: number } {
    return { keys: this.entries.size, connectionsOpened: this.opened };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.entries) {
      if (now - e.lastUsed < e.idleMs) continue;
      const agentBusy = e.agent && (Object.keys(e.agent.sockets).length > 0 || Object.keys(e.agent.requests).length > 0);
      const poolBusy = e.pool && e.pool.stats.size > 0;
      if (agentBusy || poolBusy) continue;
      e.pool?.close().catch(() => {});
      e.agent?.destroy();
      e.session?.close();
      this.entries.delete(k);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const e of this.entries.values()) {
      e.pool?.destroy().catch(() => {});
      e.agent?.destroy();
      e.session?.destroy();
    }
    this.entries.clear();
  }
}
