/**
 * Pure parts of the HBONE connection pool: the key a connection is shared under, and which
 * pooled connection a new stream goes to.
 *
 * Key = (source identity, destination identity set, destination address, source IP), as in
 * upstream ztunnel: a connection authenticates one source identity to one verified server, so
 * sharing it across any of these would let one workload's tunnel ride another's identity.
 *
 * Selection packs streams onto the busiest connection that still has room (oldest first on a
 * tie) instead of spreading them: surplus connections then go idle and are released, so the
 * pool shrinks back after a burst.
 */
import { type Identity, toUri } from "../../common/spiffe.js";
import { type SocketAddress, formatAddress } from "../../common/net/addr.js";
import { identitySetKey } from "./tls-context.js";

export interface PoolKeyFields {
  readonly sourceIdentity: Identity;
  readonly destinationIdentities: readonly Identity[];
  readonly destination: SocketAddress;
  /** Bound source IP, if any; undefined means "kernel's choice". */
  readonly sourceIp?: string;
}

export function poolKey(k: PoolKeyFields): string {
  return [toUri(k.sourceIdentity), identitySetKey(k.destinationIdentities), formatAddress(k.destination), k.sourceIp ?? "*"].join("|");
}

/** What selection needs to know of a pooled connection. */
export interface ConnectionLoad {
  readonly id: number;
  /** Streams open or reserved on it. */
  readonly active: number;
  /** Streams it may carry: min(pool limit, the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly limit: number;
  /** GOAWAY received, being closed, or broken: takes no new streams. */
  readonly draining: boolean;
}

export function streamLimit(poolMax: number, peerMaxConcurrentStreams: number | undefined): number {
  if (peerMaxConcurrentStreams === undefined || !Number.isFinite(peerMaxConcurrentStreams)) return poolMax;
  return Math.max(0, Math.min(poolMax, peerMaxConcurrentStreams));
}

/** The connection a new stream should use, or undefined if every one is full or draining. */
export function pickConnection<C extends ConnectionLoad>(conns: readonly C[]): C | undefined {
  let best: C | undefined;
  for (const c of conns) {
    if (c.draining || c.active >= c.limit) continue;
    if (!best || c.active > best.active || (c.active === best.active && c.id < best.id)) best = c;
  }
  return best;
}
