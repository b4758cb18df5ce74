/**
 * What the HBONE pool (pool.ts) needs from one pooled connection, whichever engine carries it:
 * Node's TLSSocket + http2 session (node-connection.ts) or the native engine's client
 * (native-client.ts). The pool keeps every decision (key, selection, limits, one dial per key,
 * idle release, draining); a connection only dials, opens CONNECT streams and reports its life.
 */
import type { Result } from "../../common/result.js";
import type { Identity } from "../../common/spiffe.js";
import type { SocketAddress } from "../../common/net/addr.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import type { HboneError } from "./errors.js";
import type { TunnelRequest } from "./headers.js";
import type { HboneSettings } from "./settings.js";

export interface PoolDialOptions {
  /** The destination's HBONE address (workload IP, port 15008). */
  readonly destination: SocketAddress;
  /** Certificate of the source workload, presented to the server. */
  readonly source: WorkloadCertificate;
  /** Identities the server may present (the destination workload's, or its waypoint's). */
  readonly expected: readonly Identity[];
  /** Source IP to bind (the source workload's IP when spoofing it is wanted). */
  readonly localAddress?: string;
  readonly settings: HboneSettings;
}

/** One established HBONE connection as the pool sees it; `T` is a tunnel (an answered CONNECT). */
export interface PoolConnection<T> {
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  /** The server's verified SPIFFE identity. */
  readonly peerIdentity: Identity;
  /** Closed or being destroyed: takes no streams. */
  readonly closed: boolean;
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS, once known. */
  peerMaxConcurrentStreams(): number | undefined;
  /** Sends CONNECT; resolves with the tunnel after a 200, else an HboneError (HBONE_STATUS with `status`). */
  open(req: TunnelRequest, signal?: AbortSignal): Promise<Result<T, HboneError>>;
  /** Calls `fn` once when tunnel `t` (returned by open) has closed. */
  onTunnelClosed(t: T, fn: () => void): void;
  /** Calls `fn` once the server sent GOAWAY. */
  onGoaway(fn: () => void): void;
  /** Calls `fn` once when the connection has closed, for whatever reason. */
  onClose(fn: (error?: Error) => void): void;
  /** GOAWAY: open tunnels finish, then the connection closes. */
  close(): void;
  /** Closes now; open tunnels are reset. */
  destroy(): void;
}

export type PoolDialer<T> = (opts: PoolDialOptions) => Promise<Result<PoolConnection<T>, HboneError>>;
