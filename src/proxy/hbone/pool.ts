/**
 * The HBONE connection pool: tunnels to the same (source identity, destination identity set,
 * destination address, source IP) share HTTP/2 connections, up to `poolMaxStreamsPerConnection`
 * streams each (or fewer if the server says so); past that another connection is opened.
 *
 * Invariants:
 * - at most one dial in flight per key: concurrent first requests wait for it, and share its
 *   failure instead of each dialling a failing destination;
 * - a stream slot is reserved synchronously before any await, so a connection never carries
 *   more than its limit;
 * - a connection leaves the pool when its session closes for any reason (GOAWAY, ping timeout,
 *   reset, error) and takes no new streams once it received GOAWAY;
 * - a connection with no streams for `poolIdleTimeoutMs` is closed; every timer is unref'd;
 * - a CONNECT the server refused unprocessed (REFUSED_STREAM: its per-connection dial budget
 *   or stream limit) is retried once, and the refusing connection takes no new streams for
 *   `REFUSING_BACKOFF_MS` (its open tunnels go on), so the retry and the streams after it go to
 *   another connection (dialled if needed) instead of failing the tunnel.
 *
 * The connections themselves come from a `PoolDialer` (pool-connection.ts): Node's http2 by
 * default, the native engine's client with `createHbonePool(..., "native")` (engine.ts); the
 * tunnel type `T` is the engine's (an http2 stream, or a native tunnel).
 */
import type http2 from "node:http2";
import { logger } from "../../common/log.js";
import { type Result, ok, err } from "../../common/result.js";
import { type Identity, toUri } from "../../common/spiffe.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { type SocketAddress, formatAddress } from "../../common/net/addr.js";
import { HboneError } from "./errors.js";
import type { TunnelRequest } from "./headers.js";
import { dialNodeConnection } from "./node-connection.js";
import type { PoolConnection, PoolDialer } from "./pool-connection.js";
import { type ConnectionLoad, pickConnection, poolKey, streamLimit } from "./pool-key.js";
import { type HboneSettings, HBONE_PORT, settingsOrThrow } from "./settings.js";

const log = logger("ztunnel.hbone.pool");

/** How long a connection that answered REFUSED_STREAM takes no new streams (servers' budgets refill per second). */
export const REFUSING_BACKOFF_MS = 1_000;
/** Attempts per tunnel: the first, and one retry after a REFUSED_STREAM. */
const CONNECT_ATTEMPTS = 2;

/** Where and as whom to tunnel. */
export interface PoolTarget {
  /** Certificate of the source workload (its identity is part of the key). */
  readonly source: WorkloadCertificate;
  /** Identities the server may present. */
  readonly expected: readonly Identity[];
  /** HBONE address; port defaults to 15008. */
  readonly destination: { readonly ip: string; readonly port?: number };
  /** Source IP to bind, if any. */
  readonly sourceIp?: string;
}

export interface ConnectionInfo {
  readonly key: string;
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  readonly peerIdentity: Identity;
}

/** Hooks for the ztunnel's metrics; all optional, called synchronously, must not throw. */
export interface PoolObserver {
  connectionOpened?(c: ConnectionInfo): void;
  connectionClosed?(c: ConnectionInfo, error?: Error): void;
  connectFailed?(key: string, error: HboneError): void;
  streamOpened?(c: ConnectionInfo): void;
  streamClosed?(c: ConnectionInfo): void;
}

export interface PoolStats {
  readonly connections: number;
  readonly streamsActive: number;
  readonly connectionsOpened: number;
  readonly connectionsClosed: number;
  readonly connectFailures: number;
  readonly streamsOpened: number;
  /** CONNECTs the server refused unprocessed (REFUSED_STREAM), each retried once on another connection. */
  readonly streamsRefused: number;
}

export interface PoolDumpEntry {
  readonly sourceIdentity: string;
  readonly destinationIdentities: readonly string[];
  readonly destination: string;
  readonly sourceIp?: string;
  readonly connections: readonly {
    readonly id: number;
    readonly local: string;
    readonly peerIdentity: string;
    readonly activeStreams: number;
    readonly streamLimit: number;
    readonly totalStreams: number;
    readonly draining: boolean;
    readonly openedAt: string;
    readonly idleSince?: string;
  }[];
}

class Pooled<T> implements ConnectionLoad {
  active = 0;
  ended = false;
  total = 0;
  draining = false;
  idleSince: number | undefined = Date.now();
  idleTimer: NodeJS.Timeout | undefined;
  /** Until then no new streams: the server refused one (REFUSED_STREAM). */
  refusingUntil = 0;
  readonly openedAt = Date.now();
  constructor(
    readonly id: number,
    readonly conn: PoolConnection<T>,
    readonly info: ConnectionInfo,
    private readonly poolMax: number,
  ) {}
  get limit(): number {
    if (this.ended || this.conn.closed || this.refusingUntil > Date.now()) return 0;
    return streamLimit(this.poolMax, this.conn.peerMaxConcurrentStreams());
  }
}

interface Entry<T> {
  readonly target: Omit<PoolTarget, "source">;
  readonly conns: Pooled<T>[];
  dialing?: Promise<Result<Pooled<T>, HboneError>>;
}

export class HbonePool<T = http2.ClientHttp2Stream> {
  private readonly settings: HboneSettings;
  private readonly entries = new Map<string, Entry<T>>();
  private nextId = 1;
  private closed = false;
  private opened = 0;
  private closedCount = 0;
  private failures = 0;
  private streamsOpened = 0;
  private refusals = 0;

  constructor(
    settings?: Partial<HboneSettings>,
    private readonly observer: PoolObserver = {},
    private readonly dialer: PoolDialer<T> = dialNodeConnection as unknown as PoolDialer<T>,
  ) {
    this.settings = settingsOrThrow(settings);
  }

  /** Opens a tunnel: a stream on a pooled (or new) connection, answered 200 by the server. */
  async connect(target: PoolTarget, req: TunnelRequest, signal?: AbortSignal): Promise<Result<T, HboneError>> {
    const destination = { ip: target.destination.ip, port: target.destination.port ?? HBONE_PORT };
    const key = poolKey({
      sourceIdentity: target.source.identity,
      destinationIdentities: target.expected,
      destination,
      ...(target.sourceIp !== undefined ? { sourceIp: target.sourceIp } : {}),
    });
    for (let attempt = 1; ; attempt++) {
      const slot = await this.acquire(key, { ...target, destination });
      if (!slot.ok) return slot;
      const c = slot.value;
      const r = await c.conn.open(req, signal);
      if (r.ok) {
        this.track(c, r.value);
        return r;
      }
      this.release(c);
      if (!r.error.refusedStream) return r;
      c.refusingUntil = Date.now() + REFUSING_BACKOFF_MS;
      this.refusals++;
      if (attempt >= CONNECT_ATTEMPTS) return r;
      log.debug({ destination: formatAddress(destination) }, "hbone: stream refused by the server, retrying on another connection");
    }
  }

  private track(c: Pooled<T>, tunnel: T): void {
    this.streamsOpened++;
    this.observer.streamOpened?.(c.info);
    c.conn.onTunnelClosed(tunnel, () => {
      this.release(c);
      this.observer.streamClosed?.(c.info);
    });
  }

  /** Reserves a stream slot on a connection for `key`, dialling one if none has room. */
  private async acquire(key: string, target: PoolTarget & { destination: SocketAddress }): Promise<Result<Pooled<T>, HboneError>> {
    for (;;) {
      if (this.closed) return err(new HboneError("HBONE_CLOSED", "hbone: pool is closed"));
      let entry = this.entries.get(key);
      if (!entry) {
        const { source: _source, ...rest } = target;
        entry = { target: rest, conns: [] };
        this.entries.set(key, entry);
      }
      const picked = pickConnection(entry.conns);
      if (picked) {
        this.reserve(picked);
        return ok(picked);
      }
      if (entry.dialing) {
        const shared = await entry.dialing;
        if (!shared.ok) return shared;
        continue;
      }
      const dialing = this.dial(key, entry, target);
      entry.dialing = dialing;
      const r = await dialing;
      entry.dialing = undefined;
      if (!r.ok && entry.conns.length === 0) this.entries.delete(key);
      return r;
    }
  }

  /** Dials and adds a connection with one slot already reserved for the dialler. */
  private async dial(
    key: string,
    entry: Entry<T>,
    target: PoolTarget & { destination: SocketAddress },
  ): Promise<Result<Pooled<T>, HboneError>> {
    const r = await this.dialer({
      destination: target.destination,
      source: target.source,
      expected: target.expected,
      settings: this.settings,
      ...(target.sourceIp !== undefined ? { localAddress: target.sourceIp } : {}),
    });
    if (!r.ok) {
      this.failures++;
      this.observer.connectFailed?.(key, r.error);
      log.info({ err: r.error, destination: formatAddress(target.destination) }, "hbone: connect failed");
      return r;
    }
    if (this.closed) {
      r.value.destroy();
      return err(new HboneError("HBONE_CLOSED", "hbone: pool is closed"));
    }
    const conn = r.value;
    const info: ConnectionInfo = {
      key,
      localAddress: conn.localAddress,
      remoteAddress: conn.remoteAddress,
      peerIdentity: conn.peerIdentity,
    };
    const p = new Pooled(this.nextId++, conn, info, this.settings.poolMaxStreamsPerConnection);
    entry.conns.push(p);
    this.opened++;
    this.observer.connectionOpened?.(info);
    conn.onGoaway(() => (p.draining = true));
    conn.onClose((error) => this.evict(key, entry, p, error));
    this.reserve(p);
    return ok(p);
  }

  private reserve(p: Pooled<T>): void {
    p.active++;
    p.total++;
    p.idleSince = undefined;
    if (p.idleTimer) clearTimeout(p.idleTimer);
    p.idleTimer = undefined;
  }

  private release(p: Pooled<T>): void {
    p.active--;
    if (p.active > 0 || p.draining) return;
    p.idleSince = Date.now();
    p.idleTimer = setTimeout(() => {
      if (p.active === 0) {
        p.draining = true;
        p.conn.close();
      }
    }, this.settings.poolIdleTimeoutMs);
    p.idleTimer.unref();
  }

  private evict(key: string, entry: Entry<T>, p: Pooled<T>, error?: Error): void {
    p.draining = true;
    p.ended = true;
    if (p.idleTimer) clearTimeout(p.idleTimer);
    const i = entry.conns.indexOf(p);
    if (i >= 0) entry.conns.splice(i, 1);
    if (entry.conns.length === 0 && !entry.dialing && this.entries.get(key) === entry) this.entries.delete(key);
    this.closedCount++;
    this.observer.connectionClosed?.(p.info, error);
  }

  stats(): PoolStats {
    let connections = 0;
    let streamsActive = 0;
    for (const e of this.entries.values()) {
      connections += e.conns.length;
      for (const c of e.conns) streamsActive += c.active;
    }
    return {
      connections,
      streamsActive,
      connectionsOpened: this.opened,
      connectionsClosed: this.closedCount,
      connectFailures: this.failures,
      streamsOpened: this.streamsOpened,
      streamsRefused: this.refusals,
    };
  }

  /** For the admin config dump; no key material. */
  dump(): PoolDumpEntry[] {
    const iso = (t: number) => new Date(t).toISOString();
    return [...this.entries.entries()].map(([key, e]) => {
      const [sourceIdentity = ""] = key.split("|");
      return {
        sourceIdentity,
        destinationIdentities: e.target.expected.map(toUri),
        destination: formatAddress(e.target.destination as SocketAddress),
        ...(e.target.sourceIp !== undefined ? { sourceIp: e.target.sourceIp } : {}),
        connections: e.conns.map((c) => ({
          id: c.id,
          local: formatAddress(c.conn.localAddress),
          peerIdentity: toUri(c.conn.peerIdentity),
          activeStreams: c.active,
          streamLimit: c.limit,
          totalStreams: c.total,
          draining: c.draining,
          openedAt: iso(c.openedAt),
          ...(c.idleSince !== undefined ? { idleSince: iso(c.idleSince) } : {}),
        })),
      };
    });
  }

  /**
   * Shutdown: no new tunnels; GOAWAY on every connection so open tunnels finish; after
   * `deadlineMs` whatever is left is destroyed. Resolves when every connection is closed.
   */
  async close(deadlineMs = 5_000): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()].flatMap((e) => e.conns);
    for (const c of all) {
      c.draining = true;
      if (c.idleTimer) clearTimeout(c.idleTimer);
      c.conn.close();
    }
    const started = Date.now();
    while (all.some((c) => !c.ended) && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    for (const c of all) if (!c.ended) c.conn.destroy();
  }
}
