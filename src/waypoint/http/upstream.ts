/**
 * Upstream connections of the waypoint, reused across requests: per (endpoint, downstream
 * client) an HTTP/1.1 keep-alive agent and an HTTP/2 session, each carried by a tunnel from
 * `TunnelOpener` (HBONE through the shared pool to `<endpoint IP>:15008`, or plain TCP to a
 * workload that is not in the mesh). The client is part of the key because the HBONE CONNECT
 * carries `forwarded: for=<client>` (Istio), which is per connection.
 *
 * The cluster's connection settings apply per key: `connect_timeout` bounds each tunnel dial,
 * `max_requests_per_connection` retires a connection after that many requests (HTTP/1.1: the
 * last one is sent without keep-alive; HTTP/2: the session leaves the cache and closes once its
 * streams end), `idle_timeout` replaces IDLE_MS for idle keep-alive connections.
 *
 * Invariants: at most one HTTP/2 session dial in flight per key; a session leaves the cache
 * when it closes or receives GOAWAY; agents and sessions idle for IDLE_MS are released; a
 * failed tunnel (or one slower than the connect timeout) is an error tagged "UF" (connect
 * failure) for errors.ts.
 */
import http from "node:http";
import http2 from "node:http2";
import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
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
 * http.Agent calls these on pooled sockets; an HTTP/2 stream (the HBONE tunnel) has no
 * keep-alive, Nagle or ref counting of its own (the HBONE session has), so they are no-ops.
 */
export function socketLike(d: Duplex): Socket {
  const s = buffersOnly(d) as Duplex & Partial<Socket>;
  s.setKeepAlive ??= () => s as Socket;
  s.setNoDelay ??= () => s as Socket;
  s.ref ??= () => s as Socket;
  s.unref ??= () => s as Socket;
  return s as Socket;
}

interface Entry {
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
  /** Requests sent per HTTP/1.1 connection (max_requests_per_connection). */
  private readonly perSocket = new WeakMap<object, number>();

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

  /** A keep-alive agent whose connections are tunnels from `open`. */
  agent(key: string, open: TunnelOpener, settings?: ConnectionSettings): http.Agent {
    const e = this.entry(key, settings);
    if (e.agent) return e.agent;
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: e.idleMs, scheduling: "lifo" });
    // Node's Agent accepts an asynchronous createConnection through its callback form.
    (agent as unknown as { createConnection: (o: unknown, cb: (e: Error | null, s?: Socket) => void) => undefined }).createConnection = (
      _o,
      cb,
    ) => {
      void dialWithTimeout(open, settings?.connectTimeoutMs ?? 0).then((r) => {
        if (!r.ok) return cb(new ConnectFailure(r.error.message, { cause: r.error }));
        this.opened++;
        cb(null, socketLike(r.value));
      });
      return undefined;
    };
    e.agent = agent;
    return agent;
  }

  /** Counts one HTTP/1.1 request on its connection; the connection's last allowed request goes without keep-alive. */
  limit(req: http.ClientRequest, settings?: ConnectionSettings): void {
    const max = settings?.httpOptions.maxRequestsPerConnection;
    if (!max) return;
    req.once("socket", (s) => {
      const n = (this.perSocket.get(s) ?? 0) + 1;
      this.perSocket.set(s, n);
      // Before the head is stored: `connection: close`; after: the socket is closed at the response end.
      if (n >= max) req.shouldKeepAlive = false;
    });
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
      const t = await dialWithTimeout(open, settings?.connectTimeoutMs ?? 0);
      if (!t.ok) return { ok: false, error: new ConnectFailure(t.error.message, { cause: t.error }) };
      this.opened++;
      const session = http2.connect("http://upstream", { createConnection: () => socketLike(t.value) });
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
      if (agentBusy) continue;
      e.agent?.destroy();
      e.session?.close();
      this.entries.delete(k);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const e of this.entries.values()) {
      e.agent?.destroy();
      e.session?.destroy();
    }
    this.entries.clear();
  }
}
