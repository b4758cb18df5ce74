/**
 * ConfigSource backed by the Kubernetes API: one reflector (list+watch) per watched kind,
 * changes validated and delivered to the sink in batches, `synced()` once every kind has
 * completed its first list (a kind whose CRD is missing counts as an empty list).
 *
 * Invariants (see source.ts): events for one object reach the sink in the order the server
 * produced them (one reflector per kind, one FIFO buffer for all); an upsert that fails
 * validation is reported through `onInvalid` and not applied; nothing reaches the sink after
 * `stop()` resolves. Batches are flushed on the next turn of the event loop, so a list and
 * the watch events that arrive with it become a few batches rather than thousands.
 *
 * Validation hook: `KubeSourceOptions.validate`, by default `objectValidator()` from
 * validate.ts (envelope and strict per-kind schemas); the control plane passes its own to add
 * deeper spec validators (e.g. the authorization translator's).
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "../../common/log.js";
import { logger } from "../../common/log.js";
import type { Result } from "../../common/result.js";
import type { KubeObject, Origin } from "../object.js";
import type { ConfigEvent, ConfigSink, ConfigSource, InvalidObject } from "../source.js";
import type { KubeClientConfig } from "./kube-config.js";
import type { WatchedKind } from "./kube-kinds.js";
import type { Change } from "./kube-relist.js";
import type { ReflectorOptions, ReflectorStats } from "./kube-reflector.js";
import { KubeClient } from "./kube-client.js";
import { collectionPath, defaultKinds, kindName } from "./kube-kinds.js";
import { KubeReflector } from "./kube-reflector.js";
import { defaultBackoff } from "./kube-backoff.js";
import { objectValidator } from "../validate/validate.js";

/** Checks one object before it may enter the store; the error names object and field. */
export type ObjectValidator = (object: KubeObject, origin: Origin) => Result<KubeObject, InvalidObject>;

export interface KubeSourceOptions {
  /** Connection to the API server (a KubeClient is created and owned by the source). */
  readonly config: KubeClientConfig;
  /** Kinds to watch; default: core kinds plus the Istio and Gateway API kinds. */
  readonly kinds?: readonly WatchedKind[];
  /** Validation before delivery; default: `objectValidator()` of validate.ts (envelope + strict kind schemas). */
  readonly validate?: ObjectValidator;
  readonly reflector?: Partial<ReflectorOptions>;
  /** Source name for logs and origins; default `kubernetes`. */
  readonly name?: string;
}

export const defaultReflectorOptions: ReflectorOptions = {
  backoff: defaultBackoff,
  pageSize: 500,
  watchTimeoutSeconds: 300,
  absentRecheckMs: 30_000,
  requestTimeoutMs: 30_000,
};

export class KubeSource implements ConfigSource {
  readonly name: string;
  private readonly client: KubeClient;
  private readonly kinds: readonly WatchedKind[];
  private readonly validate: ObjectValidator;
  private readonly reflectorOptions: ReflectorOptions;
  private readonly log: Logger = logger("controlplane.config.kube");
  private reflectors: KubeReflector[] = [];
  private runs: Promise<void>[] = [];
  private abort?: AbortController;
  private sink?: ConfigSink;
  private pending: ConfigEvent[] = [];
  private flushScheduled = false;
  private unsynced = new Set<string>();
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];

  constructor(opts: KubeSourceOptions) {
    this.name = opts.name ?? "kubernetes";
    this.client = new KubeClient(opts.config);
    this.kinds = opts.kinds ?? defaultKinds;
    this.validate = opts.validate ?? objectValidator();
    this.reflectorOptions = { ...defaultReflectorOptions, ...opts.reflector };
  }

  /** Starts watching; resolves at once (the API server may be down: reflectors retry). */
  async start(sink: ConfigSink): Promise<void> {
    if (this.abort) throw new Error("KubeSource.start called twice");
    this.sink = sink;
    this.abort = new AbortController();
    this.unsynced = new Set(this.kinds.map(kindName));
    this.log.info({ server: this.client.server, kinds: this.kinds.length }, "watching the Kubernetes API");
    this.reflectors = this.kinds.map(
      (k) =>
        new KubeReflector(
          this.client,
          k,
          (kind, changes) => this.enqueue(kind, changes),
          (kind) => this.kindSynced(kind),
          this.reflectorOptions,
          this.log,
        ),
    );
    const signal = this.abort.signal;
    // Every reflector waits on this one signal (sleep, watch), a few listeners each.
    setMaxListeners(10 + 4 * this.kinds.length, signal);
    this.runs = this.reflectors.map((r) => r.run(signal));
  }

  /** Resolves once `synced()` has been delivered to the sink. */
  waitSynced(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Per-kind counters (lists, watches, 410s, errors...), for metrics and tests. */
  stats(): Record<string, Readonly<ReflectorStats>> {
    return Object.fromEntries(this.reflectors.map((r) => [kindName(r.kind), { ...r.stats }]));
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await Promise.all(this.runs);
    this.pending = [];
    this.sink = undefined;
    this.client.close();
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
