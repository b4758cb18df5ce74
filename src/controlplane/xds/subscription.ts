/**
 * One client's subscription to one type URL on a delta ADS stream, and the pure decisions
 * about it: what a request changes, and what the client must be sent next. No IO.
 *
 * Model (Envoy's incremental xDS protocol, as istiod's delta.go applies it):
 *  - `wildcard`: the client wants every resource of the type. The first request with an empty
 *    subscribe list, or one that subscribes "*", turns it on; unsubscribing "*" turns it off
 *    (ztunnel's on-demand mode: subscribe and unsubscribe "*" first, then subscribe per name).
 *  - `names`: explicitly subscribed names. Subscribing a name always (re)sends it, even if the
 *    server believes the client has it (the client may have dropped it); a name that does not
 *    exist is answered in `removed_resources`, so an on-demand lookup learns "no such thing".
 *  - `known`: name -> version the client holds: seeded from `initial_resource_versions` on
 *    reconnect, then updated with everything sent. Deltas are computed against it, so a client
 *    only ever receives what differs from what it has.
 * A NACK does not roll `known` back: the server keeps what it sent as the client's version, so
 * the same version is not re-sent in a loop; the next change of that resource is sent normally.
 */
import type { StoreEntry } from "./resource-store.js";

/** Which entries this client may see (waypoint scoping); every entry when absent. */
export type Visible = (e: StoreEntry) => boolean;
const everything: Visible = () => true;

export interface Subscription {
  wildcard: boolean;
  readonly names: Set<string>;
  readonly known: Map<string, string>;
  /** Explicitly subscribed names to (re)send or report missing on the next full delta. */
  readonly forced: Set<string>;
}

export interface SubscriptionRequest {
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: Readonly<Record<string, string>>;
}

export interface Delta {
  readonly upserts: StoreEntry[];
  readonly removals: string[];
}

export function newSubscription(): Subscription {
  return { wildcard: false, names: new Set(), known: new Map(), forced: new Set() };
}

/** Applies the subscription part of a request. `first` is the first request of this type on the stream. */
export function applyRequest(sub: Subscription, req: SubscriptionRequest, first: boolean): void {
  if (first) {
    for (const [name, version] of Object.entries(req.initialVersions)) sub.known.set(name, version);
    if (req.subscribe.length === 0) sub.wildcard = true;
  }
  for (const name of req.subscribe) {
    if (name === "*") {
      sub.wildcard = true;
      continue;
    }
    sub.names.add(name);
    sub.forced.add(name);
    sub.known.delete(name);
  }
  for (const name of req.unsubscribe) {
    if (name === "*") {
      sub.wildcard = false;
      // What the client still holds but no longer wants is its own business (Envoy spec): forget it.
      for (const n of [...sub.known.keys()]) if (!sub.names.has(n)) sub.known.delete(n);
      continue;
    }
    sub.names.delete(name);
    sub.forced.delete(name);
    if (!sub.wildcard) sub.known.delete(name);
  }
}

function wants(sub: Subscription, name: string): boolean {
  return sub.wildcard || sub.names.has(name);
}

/** Everything the client lacks or holds stale, scanning the whole store (first request, subscription change). */
export function fullDelta(sub: Subscription, all: ReadonlyMap<string, StoreEntry>, visible: Visible = everything): Delta {
  const upserts: StoreEntry[] = [];
  const removals: string[] = [];
  const get = (name: string) => {
    const e = all.get(name);
    return e && visible(e) ? e : undefined;
  };
  if (sub.wildcard) {
    for (const e of all.values()) if (visible(e) && sub.known.get(e.name) !== e.version) upserts.push(e);
  }
  for (const name of sub.names) {
    if (sub.wildcard && get(name)) continue;
    const e = get(name);
    if (e && sub.known.get(name) !== e.version) upserts.push(e);
    else if (!e && sub.forced.has(name)) removals.push(name);
  }
  for (const name of sub.known.keys()) if (wants(sub, name) && !get(name) && !sub.forced.has(name)) removals.push(name);
  sub.forced.clear();
  return { upserts, removals };
}

/** The delta for a set of changed names only (a store push): O(changed), not O(store). */
export function changedDelta(
  sub: Subscription,
  all: ReadonlyMap<string, StoreEntry>,
  changed: Iterable<string>,
  visible: Visible = everything,
): Delta {
  const upserts: StoreEntry[] = [];
  const removals: string[] = [];
  for (const name of changed) {
    if (!wants(sub, name)) continue;
    const found = all.get(name);
    const e = found && visible(found) ? found : undefined;
    if (e) {
      if (sub.known.get(name) !== e.version) upserts.push(e);
    } else if (sub.known.has(name)) {
      removals.push(name);
    }
  }
  return { upserts, removals };
}

/** Records that `delta` was sent: the client now holds these versions. */
export function recordSent(sub: Subscription, delta: Delta): void {
  for (const e of delta.upserts) sub.known.set(e.name, e.version);
  for (const n of delta.removals) sub.known.delete(n);
}
