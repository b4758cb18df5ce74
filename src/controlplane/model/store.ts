/**
 * The config store: every object the control plane knows, as config sources deliver them.
 *
 * - Batches apply atomically: indexes are updated for the whole batch, then subscribers are
 *   told once, with the set of keys that changed, so translation can be incremental.
 * - Defence in depth: if given a validator, the store re-checks every upsert; an invalid one is
 *   recorded in the invalid list and skipped, and the previous good version stays in force.
 *   (Sources validate already; this makes the guarantee the store's own.)
 * - Indexes: by key; by `group/Kind` then namespace; by `group/Kind/namespace` and label
 *   `k=v`, for selector lookups.
 * - The invalid list (for status and the `weft` CLI) drops an object's problems when a valid
 *   version of it arrives or it is deleted, and a file's when the source clears them. Sources
 *   re-report problems that still hold after a batch (the folder source does).
 *
 * Keys are `objectKey()` strings: `group/Kind/namespace/name`.
 */
import type { Logger } from "../../common/log.js";
import { logger } from "../../common/log.js";
import type { KubeObject, Origin } from "../../kube/object.js";
import { objectKey } from "../../kube/object.js";
import type { ConfigEvent, ConfigSink, InvalidObject } from "../../kube/source.js";
import type { Result } from "../../common/result.js";

export type StoreValidator = (o: KubeObject, origin: Origin) => Result<KubeObject, InvalidObject>;

export interface StoreChange {
  /** Keys whose object was added, changed or deleted by this batch. */
  readonly changed: ReadonlySet<string>;
  /** Monotonic version of the store after this batch. */
  readonly version: number;
}

export type StoreListener = (change: StoreChange) => void;

/** Parts of an object key. */
export interface KeyParts {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export function parseKey(key: string): KeyParts {
  const [group = "", kind = "", namespace = "", ...rest] = key.split("/");
  return { group, kind, namespace, name: rest.join("/") };
}

/** `group/Kind` of an apiVersion and kind, as store kind indexes use. */
export function kindKey(apiVersion: string, kind: string): string {
  const i = apiVersion.indexOf("/");
  return `${i < 0 ? "" : apiVersion.slice(0, i)}/${kind}`;
}

const MAX_INVALID = 10_000;

/** Same object, same source (a file path, or a source name such as `kubernetes`), same field. */
function problemId(p: InvalidObject): string {
  const source = p.origin.source.split(/[:@]/)[0] ?? "";
  return p.object === undefined ? p.origin.source : `${p.object}\u0000${source}\u0000${p.field}`;
}

function labelOfKey(key: string): string {
  const p = parseKey(key);
  return `${p.kind} ${p.namespace ? `${p.namespace}/` : ""}${p.name}`;
}

export interface ReadStore {
  get(key: string): KubeObject | undefined;
  /** Objects of a kind (`group/Kind`, e.g. `/Pod`), in one namespace or all. */
  list(kind: string, namespace?: string): KubeObject[];
  /** Objects of a kind in a namespace whose labels include every `matchLabels` pair. */
  select(kind: string, namespace: string, matchLabels: Readonly<Record<string, string>>): KubeObject[];
  readonly version: number;
}

export class ConfigStore implements ConfigSink, ReadStore {
  private readonly objects = new Map<string, KubeObject>();
  /** kind -> namespace -> keys */
  private readonly byKind = new Map<string, Map<string, Set<string>>>();
  /** `kind/namespace` -> `k=v` -> keys */
  private readonly byLabel = new Map<string, Map<string, Set<string>>>();
  private readonly listeners = new Set<StoreListener>();
  private invalidList: InvalidObject[] = [];
  private syncedFlag = false;
  private syncWaiters: (() => void)[] = [];
  private readonly log: Logger = logger("controlplane.store");
  version = 0;

  constructor(private readonly validate?: StoreValidator) {}

  apply(events: readonly ConfigEvent[]): void {
    const changed = new Set<string>();
    for (const e of events) {
      if (e.type === "delete") {
        if (this.remove(e.key)) changed.add(e.key);
        this.dropInvalid((p) => p.object === labelOfKey(e.key));
        continue;
      }
      let o = e.object;
      if (this.validate) {
        const v = this.validate(o, e.origin);
        if (!v.ok) {
          this.onInvalid(v.error);
          continue;
        }
        o = v.value;
      }
      const key = objectKey(o);
      this.remove(key);
      this.insert(key, o);
      changed.add(key);
      const label = labelOfKey(key);
      this.dropInvalid((p) => p.object === label);
    }
    if (changed.size === 0) return;
    this.version++;
    const change: StoreChange = { changed, version: this.version };
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (x) {
        // A subscriber's bug must not stop the others or the source.
        this.log.error({ err: (x as Error).message }, "store subscriber failed");
      }
    }
  }

  /**
   * Records a problem. A newer problem of the same object from the same source replaces the
   * older one (a Kubernetes object rejected at every resourceVersion is listed once), and the
   * list is bounded (oldest dropped) so a flood of bad input cannot grow it without limit.
   */
  onInvalid(problem: InvalidObject): void {
    const id = problemId(problem);
    if (problem.object !== undefined) this.dropInvalid((p) => problemId(p) === id);
    this.invalidList.push(problem);
    if (this.invalidList.length > MAX_INVALID) this.invalidList = this.invalidList.slice(-MAX_INVALID);
  }

  clearInvalid(prefix: string): void {
    this.dropInvalid((p) => p.origin.source.startsWith(prefix));
  }

  synced(): void {
    this.syncedFlag = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  get isSynced(): boolean {
    return this.syncedFlag;
  }

  waitSynced(): Promise<void> {
    return this.syncedFlag ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  /** Current problems, in the order they were reported. */
  invalid(): readonly InvalidObject[] {
    return this.invalidList;
  }

  /** Calls `l` after every batch that changed something; returns the unsubscribe function. */
  subscribe(l: StoreListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get size(): number {
    return this.objects.size;
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    const byNs = this.byKind.get(kind);
    if (!byNs) return [];
    const keys = namespace === undefined ? [...byNs.values()].flatMap((s) => [...s]) : [...(byNs.get(namespace) ?? [])];
    return keys.map((k) => this.objects.get(k)!);
  }

  /** Namespaces that hold at least one object of `kind`. */
  namespacesOf(kind: string): string[] {
    return [...(this.byKind.get(kind)?.keys() ?? [])];
  }

  select(kind: string, namespace: string, matchLabels: Readonly<Record<string, string>>): KubeObject[] {
    const pairs = Object.entries(matchLabels);
    if (pairs.length === 0) return this.list(kind, namespace);
    const idx = this.byLabel.get(`${kind}/${namespace}`);
    if (!idx) return [];
    const sets = pairs.map(([k, v]) => idx.get(`${k}=${v}`));
    if (sets.some((s) => !s)) return [];
    const sorted = (sets as Set<string>[]).sort((a, b) => a.size - b.size);
    const [first, ...others] = sorted;
    const out: KubeObject[] = [];
    for (const key of first!) if (others.every((s) => s.has(key))) out.push(this.objects.get(key)!);
    return out;
  }

  private insert(key: string, o: KubeObject): void {
    this.objects.set(key, o);
    const kind = kindKey(o.apiVersion, o.kind);
    const ns = o.metadata.namespace ?? "";
    let byNs = this.byKind.get(kind);
    if (!byNs) this.byKind.set(kind, (byNs = new Map()));
    let keys = byNs.get(ns);
    if (!keys) byNs.set(ns, (keys = new Set()));
    keys.add(key);
    const lk = `${kind}/${ns}`;
    let idx = this.byLabel.get(lk);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
      if (!idx) this.byLabel.set(lk, (idx = new Map()));
      let s = idx.get(`${k}=${v}`);
      if (!s) idx.set(`${k}=${v}`, (s = new Set()));
      s.add(key);
    }
  }

  private remove(key: string): boolean {
    const o = this.objects.get(key);
    if (!o) return false;
    this.objects.delete(key);
    const kind = kindKey(o.apiVersion, o.kind);
    const ns = o.metadata.namespace ?? "";
    const byNs = this.byKind.get(kind);
    const keys = byNs?.get(ns);
    keys?.delete(key);
    if (keys?.size === 0) byNs!.delete(ns);
    const idx = this.byLabel.get(`${kind}/${ns}`);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
      const s = idx?.get(`${k}=${v}`);
      s?.delete(key);
      if (s?.size === 0) idx!.delete(`${k}=${v}`);
    }
    return true;
  }

  private dropInvalid(pred: (p: InvalidObject) => boolean): void {
    if (this.invalidList.length === 0) return;
    const kept = this.invalidList.filter((p) => !pred(p));
    if (kept.length !== this.invalidList.length) this.invalidList = kept;
  }
}
