/**
 * ConfigSource backed by the Kubernetes API: one informer (list+watch, kube-informer.ts) per watched kind,
 * changes validated and delivered to the sink in batches, `synced()` once every kind has
 * completed its first list (a kind whose CRD is missing counts as an empty list).
 *
 * Invariants (see source.ts): events for one object reach the sink in the order the server
 * produced them (one informer per kind, one FIFO buffer for all); an upsert that fails
 * validation is reported through `onInvalid` and not applied; nothing reaches the sink after
 * `stop()` resolves. Batches are flushed on the next turn of the event loop, so a list and
 * the watch events that arrive with it become a few batches rather than thousands.
 *
 * Validation hook: `KubeSourceOptions.validate`, by default `objectValidator()` from
 * validate.ts (envelope and strict per-kind schemas); the control plane passes its own to add
 * deeper spec validators (e.g. the authorization translator's).
 *
 * @kubernetes/client-node is loaded on `start()` (kube-lib.ts), not when this module is imported.
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "../../common/log.js";
import { logger } from "../../common/log.js";
import type { Result } from "../../common/result.js";
import type { KubeObject, Origin } from "../object.js";
import type { ConfigEvent, ConfigSink, ConfigSource, InvalidObject } from "../source.js";
import type { KubeClientConfig } from "./kube-config.js";
import type { WatchedKind } from "./kube-kinds.js";
import type { Change, InformerOptions, InformerStats } from "./kube-informer.js";
import { serverOf } from "./kube-config.js";
import { kubeApi } from "./kube-api.js";
import { collectionPath, defaultKinds, kindName } from "./kube-kinds.js";
import { KubeInformer } from "./kube-informer.js";
import { defaultBackoff } from "./kube-backoff.js";
import { objectValidator } from "../validate/validate.js";

/** Checks one object before it may enter the store; the error names object and field. */
export type ObjectValidator = (object: KubeObject, origin: Origin) => Result<KubeObject, InvalidObject>;

export interface KubeSourceOptions {
  /** Connection to the API server (kube-config.ts: kubeconfig file, in-cluster, or parts). */
  readonly config: KubeClientConfig;
  /** Kinds to watch; default: core kinds plus the Istio and Gateway API kinds. */
  readonly kinds?: readonly WatchedKind[];
  /** Validation before delivery; default: `objectValidator()` of validate.ts (envelope + strict kind schemas). */
  readonly validate?: ObjectValidator;
  readonly reflector?: Partial<InformerOptions>;
  /** Source name for logs and origins; default `kubernetes`. */
  readonly name?: string;
}

export const defaultReflectorOptions: InformerOptions = {
  backoff: defaultBackoff,
  pageSize: 500,
  watchTimeoutSeconds: 300,
  absentRecheckMs: 30_000,
  requestTimeoutMs: 30_000,
};

export class KubeSource implements ConfigSource {
  readonly name: string;
  private readonly config: KubeClientConfig;
  private readonly kinds: readonly WatchedKind[];
  private readonly validate: ObjectValidator;
  private readonly reflectorOptions: InformerOptions;
  private readonly log: Logger = logger("controlplane.config.kube");
  private informers: KubeInformer[] = [];
  private abort?: AbortController;
  private sink?: ConfigSink;
  private pending: ConfigEvent[] = [];
  private flushScheduled = false;
  private unsynced = new Set<string>();
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];

  constructor(opts: KubeSourceOptions) {
    this.name = opts.name ?? "kubernetes";
    this.config = opts.config;
    this.kinds = opts.kinds ?? defaultKinds;
    this.validate = opts.validate ?? objectValidator();
    this.reflectorOptions = { ...defaultReflectorOptions, ...opts.reflector };
  }

  /** Starts watching; resolves at once (the API server may be down: informers retry). */
  async start(sink: ConfigSink): Promise<void> {
    if (this.abort) throw new Error("KubeSource.start called twice");
    this.sink = sink;
    this.abort = new AbortController();
    this.unsynced = new Set(this.kinds.map(kindName));
    const api = kubeApi(this.config);
    this.log.info({ server: serverOf(this.config), kinds: this.kinds.length }, "watching the Kubernetes API");
    const signal = this.abort.signal;
    // Every informer waits on this one signal (sleeps, list requests), a few listeners each.
    setMaxListeners(10 + 4 * this.kinds.length, signal);
    this.informers = this.kinds.map(
      (k) =>
        new KubeInformer(
          api,
          k,
          (kind, changes) => this.enqueue(kind, changes),
          (kind) => this.kindSynced(kind),
          this.reflectorOptions,
          this.log,
          signal,
        ),
    );
    for (const i of this.informers) i.start();
  }

  /** Resolves once `synced()` has been delivered to the sink. */
  waitSynced(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Per-kind counters (lists, watches, 410s, errors...), for metrics and tests. */
  stats(): Record<string, Readonly<InformerStats>> {
    return Object.fromEntries(this.informers.map((r) => [kindName(r.kind), { ...r.stats }]));
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await Promise.all(this.informers.map((i) => i.stop()));
    this.pending = [];
    this.sink = undefined;
  }

  private enqueue(kind: WatchedKind, changes: Change[]): void {
    if (!this.sink || this.abort?.signal.aborted) return;
    for (const c of changes) {
      if (c.type === "delete") {
        this.pending.push({ type: "delete", key: c.key, origin: { source: `${this.name}:${collectionPath(kind)} ${c.key}` } });
        continue;
      }
      const m = c.object.metadata;
      const origin: Origin = {
        source: `${this.name}:${collectionPath(kind)}/${m.namespace ? `${m.namespace}/` : ""}${m.name}@${m.resourceVersion ?? ""}`,
      };
      const v = this.validate(c.object, origin);
      if (!v.ok) {
        this.log.warn({ object: v.error.object, field: v.error.field }, `invalid object: ${v.error.reason}`);
        this.sink.onInvalid(v.error);
        continue;
      }
      this.pending.push({ type: "upsert", object: v.value, origin });
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const sink = this.sink;
    if (!sink) return;
    if (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      sink.apply(batch);
    }
    if (this.unsynced.size === 0 && !this.syncedOnce) {
      this.syncedOnce = true;
      this.log.info("initial lists of all kinds delivered");
      sink.synced();
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private kindSynced(kind: WatchedKind): void {
    this.unsynced.delete(kindName(kind));
    // Flush through the same path so synced() follows the batches of the initial lists.
    if (this.unsynced.size === 0) this.scheduleFlush();
  }
}
