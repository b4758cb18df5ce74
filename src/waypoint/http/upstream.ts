/**
 * Upstream connections of the waypoint, reused across requests: per (endpoint, downstream
 * client) an HTTP/1.1 keep-alive agent and an HTTP/2 session, each carried by a tunnel from
 * `TunnelOpener` (HBONE through the shared pool to `<endpoint IP>:15008`, or plain TCP to a
 * workload that is not in the mesh). The client is part of the key because the HBONE CONNECT
 * carries `forwarded: for=<client>` (Istio), which is per connection.
 *
 * Invariants: at most one HTTP/2 session dial in flight per key; a session leaves the cache
 * when it closes or receives GOAWAY; agents and sessions idle for IDLE_MS are released; a
 * failed tunnel is an error tagged "UF" (connect failure) for errors.ts.
 */
import http from "node:http";
import http2 from "node:http2";
import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { logger } from "../../common/log.js";
import type { Result } from "../../common/result.js";
import { buffersOnly } from "./buffers-only.js";

const log = logger("waypoint.upstream");

export const IDLE_MS = 60_000;

/** Opens a byte stream to the endpoint (HBONE tunnel or TCP), for one upstream connection. */
export type TunnelOpener = () => Promise<Result<Duplex, Error>>;

/** An error the upstream connect produced (before any request byte was sent). */
export class ConnectFailure extends Error {
  readonly failure = "UF" as const;
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
  dialing?: Promise<Result<http2.ClientHttp2Session, Error>>;
  lastUsed: number;
}

export class UpstreamConnections {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private opened = 0;

  constructor() {
    this.sweeper = setInterval(() => this.sweep(), IDLE_MS);
    this.sweeper.unref();
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = { lastUsed: Date.now() };
      this.entries.set(key, e);
    }
    e.lastUsed = Date.now();
    return e;
  }

  /** A keep-alive agent whose connections are tunnels from `open`. */
  agent(key: string, open: TunnelOpener): http.Agent {
    const e = this.entry(key);
    if (e.agent) return e.agent;
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: IDLE_MS, scheduling: "lifo" });
    // Node's Agent accepts an asynchronous createConnection through its callback form.
    (agent as unknown as { createConnection: (o: unknown, cb: (e: Error | null, s?: Socket) => void) => undefined }).createConnection = (
      _o,
      cb,
    ) => {
      void open().then((r) => {
        if (!r.ok) return cb(new ConnectFailure(r.error.message, { cause: r.error }));
        this.opened++;
        cb(null, socketLike(r.value));
      });
      return undefined;
    };
    e.agent = agent;
    return agent;
  }

  /** An HTTP/2 session (prior knowledge) over a tunnel from `open`, shared by concurrent requests. */
  async session(key: string, open: TunnelOpener): Promise<Result<http2.ClientHttp2Session, Error>> {
    const e = this.entry(key);
    if (e.session && !e.session.closed && !e.session.destroyed) return { ok: true, value: e.session };
    if (e.dialing) return e.dialing;
    e.dialing = (async (): Promise<Result<http2.ClientHttp2Session, Error>> => {
      const t = await open();
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
      if (now - e.lastUsed < IDLE_MS) continue;
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
