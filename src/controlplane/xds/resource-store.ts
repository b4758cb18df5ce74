/**
 * The control plane's current resources, per type URL, as the ADS server serves them. Each
 * entry is encoded once when it changes (not once per client): `resourceField` holds the
 * complete wire bytes of one `DeltaDiscoveryResponse.resources` element, ready to be
 * concatenated into any response.
 *
 * Versions are content hashes of the resource bytes, so an upsert of an unchanged object is a
 * no-op, and versions survive a control-plane restart: a ztunnel that reconnects to a new
 * instance with `initial_resource_versions` is sent only what really differs.
 *
 * Changes are accumulated per type until the server drains them (`takeChanges`), which is how
 * pushes are debounced: many updates between two flushes become one delta per client.
 */
import { createHash } from "node:crypto";
import protobuf from "protobufjs";
import type { ResourceKind } from "./resource-kind.js";

export interface StoreEntry {
  readonly name: string;
  /** Content hash of the encoded resource (16 hex chars). */
  readonly version: string;
  /** Wire bytes of the `resources` field (tag 2) carrying this resource, including the tag. */
  readonly resourceField: Uint8Array;
  /** Waypoints (`ns/gateway`) the resource is for; absent for kinds every caller sees. */
  readonly scopes?: ReadonlySet<string>;
}

/** Whether a caller with `scope` (its waypoint, or undefined for a ztunnel) may see `e`. */
export function visibleTo(e: StoreEntry, scope: string | undefined): boolean {
  return e.scopes === undefined || (scope !== undefined && e.scopes.has(scope));
}

/** Encodes one `Resource { version=1, resource=2 Any{type_url=1,value=2}, name=3, aliases=4 }` as field 2 of a response. */
export function encodeResourceField(
  typeUrl: string,
  name: string,
  version: string,
  aliases: readonly string[],
  value: Uint8Array,
): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(18).fork(); // DeltaDiscoveryResponse.resources (2, length-delimited)
  w.uint32(10).string(version);
  w.uint32(18).fork().uint32(10).string(typeUrl).uint32(18).bytes(value).ldelim();
  w.uint32(26).string(name);
  for (const a of aliases) w.uint32(34).string(a);
  w.ldelim();
  return w.finish();
}

type ChangeListener = (typeUrl: string) => void;

export class ResourceStore {
  private readonly kinds = new Map<string, ResourceKind<unknown>>();
  private readonly entries = new Map<string, Map<string, StoreEntry>>();
  private readonly changed = new Map<string, Set<string>>();
  private readonly listeners: ChangeListener[] = [];
  private readonly revisions = new Map<string, number>();

  constructor(kinds: ReadonlyArray<ResourceKind<never>>) {
    for (const k of kinds) {
      this.kinds.set(k.typeUrl, k as ResourceKind<unknown>);
      this.entries.set(k.typeUrl, new Map());
      this.changed.set(k.typeUrl, new Set());
    }
  }

  typeUrls(): string[] {
    return [...this.kinds.keys()];
  }

  has(typeUrl: string): boolean {
    return this.kinds.has(typeUrl);
  }

  /** Whether resources of the type are scoped to waypoints (see ResourceKind.scopes). */
  scoped(typeUrl: string): boolean {
    return this.kinds.get(typeUrl)?.scopes !== undefined;
  }

  /** Called (synchronously) after every update that changed something. */
  onChange(l: ChangeListener): void {
    this.listeners.push(l);
  }

  /** All entries of a type (live view; do not mutate). */
  all(typeUrl: string): ReadonlyMap<string, StoreEntry> {
    return this.table(typeUrl);
  }

  get(typeUrl: string, name: string): StoreEntry | undefined {
    return this.table(typeUrl).get(name);
  }

  /**
   * Upserts `upserts` and removes `removals` (names). Returns the names that changed. Throws
   * only for an unknown type URL or an object the kind cannot encode (programming errors: the
   * control plane hands over validated domain objects).
   */
  update<T>(typeUrl: string, upserts: Iterable<T>, removals: Iterable<string> = []): string[] {
    const kind = this.kind(typeUrl);
    const table = this.table(typeUrl);
    const changed = this.changed.get(typeUrl)!;
    const out: string[] = [];
    // Encode everything first so a throw leaves the store untouched (no half-applied update).
    const prepared: StoreEntry[] = [];
    for (const v of upserts) prepared.push(this.prepare(kind, v));
    for (const name of removals) {
      if (table.delete(name)) {
        changed.add(name);
        out.push(name);
      }
    }
    for (const e of prepared) {
      const old = table.get(e.name);
      if (old?.version === e.version && sameScopes(old.scopes, e.scopes)) continue;
      table.set(e.name, e);
      changed.add(e.name);
      out.push(e.name);
    }
    if (out.length) {
      this.revisions.set(typeUrl, (this.revisions.get(typeUrl) ?? 0) + 1);
      for (const l of this.listeners) l(typeUrl);
    }
    return out;
  }

  /** Replaces the whole set of a type: objects not in `items` are removed. */
  setAll<T>(typeUrl: string, items: Iterable<T>): string[] {
    const kind = this.kind(typeUrl);
    const list = [...items];
    const keep = new Set(list.map((v) => kind.name(v)));
    const removals = [...this.table(typeUrl).keys()].filter((n) => !keep.has(n));
    return this.update(typeUrl, list, removals);
  }

  /** Bumped on every change of the type: keys caches of encoded responses. */
  revision(typeUrl: string): number {
    return this.revisions.get(typeUrl) ?? 0;
  }

  /** Drains the names changed since the last call, per type URL (types without changes omitted). */
  takeChanges(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const [t, set] of this.changed) {
      if (set.size === 0) continue;
      out.set(t, set);
      this.changed.set(t, new Set());
    }
    return out;
  }

  private prepare(kind: ResourceKind<unknown>, v: unknown): StoreEntry {
    const name = kind.name(v);
    if (!name) throw new Error(`xds store: ${kind.typeUrl}: resource without a name`);
    const value = kind.encode(v);
    const version = createHash("sha256").update(value).digest("hex").slice(0, 16);
    const resourceField = encodeResourceField(kind.typeUrl, name, version, kind.aliases(v), value);
    return kind.scopes ? { name, version, resourceField, scopes: new Set(kind.scopes(v)) } : { name, version, resourceField };
  }

  private kind(typeUrl: string): ResourceKind<unknown> {
    const k = this.kinds.get(typeUrl);
    if (!k) throw new Error(`xds store: unknown type url ${typeUrl}`);
    return k;
  }

  private table(typeUrl: string): Map<string, StoreEntry> {
    const t = this.entries.get(typeUrl);
    if (!t) throw new Error(`xds store: unknown type url ${typeUrl}`);
    return t;
  }
}

function sameScopes(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((s) => b.has(s));
}
