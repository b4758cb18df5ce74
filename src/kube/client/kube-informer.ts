/**
 * List+watch of one kind on @kubernetes/client-node's informer (`ListWatch`, what `makeInformer`
 * builds), with what weft needs around it.
 *
 * The library gives: a cache that turns a re-list into the exact difference (a delete for each
 * object gone, an upsert for each new object or changed resourceVersion, nothing for unchanged
 * ones), dropping of events replayed after a resumed watch, re-list on 410 Gone, and resume from
 * the last resourceVersion (events and bookmarks advance it) when a watch ends.
 *
 * Around it (the informer stops on any other error and has no hooks for these):
 * - list pages (`limit`/`continue`) as raw JSON, objects completed with apiVersion/kind;
 * - a `Watch` subclass asking for bookmarks and a server-side timeout, counting what it sees, and
 *   reporting as 410 the conditions after which weft re-lists: watch ERROR events of any code,
 *   and a CRD collection that answers 404 (the re-list then finds the kind absent);
 * - failures retried with jittered exponential backoff (kube-backoff.ts); a watch that delivered
 *   an event or stayed open a second resets the streak; the informer's own delay between watches
 *   that end without events uses the same backoff;
 * - a CRD kind that is not served counts as synced and empty (its cached objects are deleted) and
 *   is listed again every `absentRecheckMs`;
 * - `onSynced` once, when the first list has been applied (the informer then opens its watch).
 */
import type { KubernetesListObject, KubernetesObject, ListWatch, Watch } from "@kubernetes/client-node";
import type { Logger } from "../../common/log.js";
import type { KubeObject } from "../object.js";
import type { KubeApi } from "./kube-api.js";
import type { WatchedKind } from "./kube-kinds.js";
import type { BackoffPolicy } from "./kube-backoff.js";
import { causeChain } from "./kube-api.js";
import { apiVersionOf, collectionPath, kindName } from "./kube-kinds.js";
import { backoffDelay, sleep } from "./kube-backoff.js";
import { clientNode } from "./kube-lib.js";
import { objectKey } from "../object.js";

export interface InformerOptions {
  readonly backoff: BackoffPolicy;
  /** Items per list page (`limit`). */
  readonly pageSize: number;
  /** Server-side watch timeout; the server ends the stream after about this long and the watch resumes. */
  readonly watchTimeoutSeconds: number;
  /** How often a missing CRD kind is looked for again. */
  readonly absentRecheckMs: number;
  readonly requestTimeoutMs: number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Watches or list pages answered with 410 Gone / Expired, each followed by a full re-list. */
  gone: number;
  errors: number;
  bookmarks: number;
  events: number;
  /** The kind is currently not served (CRD missing). */
  absent: boolean;
  resourceVersion: string;
}

export type Change = { readonly type: "upsert"; readonly object: KubeObject } | { readonly type: "delete"; readonly key: string };

/** How the source learns about changes. */
export type Emit = (kind: WatchedKind, changes: Change[]) => void;

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;
type Done = (err: unknown) => void;
interface StatusLike {
  code?: number;
  reason?: string;
  message?: string;
}

/** Passed to the informer's error callback when the kind is not served (no request was made). */
const absent = new Error("kind not served");

/** 410 Gone / Expired, in any of the shapes it arrives in: a Status, a KubeError, the library's watch error. */
function isGone(e: unknown): boolean {
  const x = (e ?? {}) as { statusCode?: unknown; code?: unknown; httpStatus?: unknown; reason?: unknown };
  return x.statusCode === 410 || x.httpStatus === 410 || x.code === 410 || x.reason === "Expired" || x.reason === "Gone";
}

export class KubeInformer {
  readonly stats: InformerStats = { lists: 0, watches: 0, gone: 0, errors: 0, bookmarks: 0, events: 0, absent: false, resourceVersion: "" };
  private readonly informer: ListWatch<KubernetesObject>;
  private failures = 0;
  private listed = false;
  private synced = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly api: KubeApi,
    readonly kind: WatchedKind,
    private readonly emit: Emit,
    private readonly onSynced: (kind: WatchedKind) => void,
    private readonly opts: InformerOptions,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {
    const lib = clientNode();
    this.informer = new lib.ListWatch(collectionPath(kind), this.makeWatch(), () => this.list(), false, undefined, undefined, {
      delayFn: () => this.backoff(),
    });
    const upsert = (o: KubernetesObject): void => this.emit(this.kind, [{ type: "upsert", object: o as KubeObject }]);
    this.informer.on("add", upsert);
    this.informer.on("update", upsert);
    this.informer.on("delete", (o) => this.emit(this.kind, [{ type: "delete", key: objectKey(o as KubeObject) }]));
    this.informer.on("error", (e?: unknown) => this.track(this.onError(e)));
  }

  start(): void {
    this.track(this.informer.start());
  }

  /** Stops the informer; resolves when nothing of it runs any more. */
  async stop(): Promise<void> {
    await this.informer.stop();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private track(p: Promise<void>): void {
    const q = p.catch((e: unknown) => this.log.error({ kind: kindName(this.kind), err: causeChain(e) }, "informer failed"));
    this.inFlight.add(q);
    void q.finally(() => this.inFlight.delete(q));
  }

  /** The informer stopped on an error: retry after a backoff (or the absent recheck). */
  private async onError(e: unknown): Promise<void> {
    if (this.signal.aborted) return;
    if (e === absent) {
      await sleep(this.opts.absentRecheckMs, this.signal);
    } else {
      if (!isGone(e)) this.failed("list/watch", causeChain(e));
      await this.backoff();
    }
    if (!this.signal.aborted) this.start();
  }

  /** All pages of the collection, as the informer's list function. */
  private async list(): Promise<KubernetesListObject<KubernetesObject>> {
    this.stats.lists++;
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const q = new URLSearchParams({ limit: String(this.opts.pageSize) });
      if (cont) q.set("continue", cont);
      if (this.kind.fieldSelector) q.set("fieldSelector", this.kind.fieldSelector);
      const res = await this.api.request<{ metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] }>(
        "GET",
        `${collectionPath(this.kind)}?${q}`,
        undefined,
        { signal: this.signal, timeoutMs: this.opts.requestTimeoutMs },
      );
      if (!res.ok) {
        if (res.error.httpStatus === 404 && this.kind.optional) return this.markAbsent();
        if (isGone(res.error)) {
          // The continue token outlived etcd's compaction: the list starts over.
          this.stats.gone++;
          this.log.info({ kind: kindName(this.kind) }, "list continuation expired, listing again");
        }
        throw res.error;
      }
      for (const raw of res.value.items ?? []) {
        const o = this.normalize(raw);
        if (o) items.push(o);
      }
      rv = res.value.metadata?.resourceVersion ?? rv;
      cont = res.value.metadata?.continue || undefined;
    } while (cont && !this.signal.aborted);
    if (this.stats.absent) this.log.info({ kind: kindName(this.kind) }, "kind is served now");
    this.stats.absent = false;
    this.stats.resourceVersion = rv;
    this.listed = true;
    return { items, metadata: { resourceVersion: rv } };
  }

  /** An empty list: the informer deletes what it holds; the watch that follows reports `absent`. */
  private markAbsent(): KubernetesListObject<KubernetesObject> {
    if (!this.stats.absent)
      this.log.warn({ kind: kindName(this.kind) }, "kind not served (CRD not installed?): treated as empty, checking again later");
    this.stats.absent = true;
    this.listed = true;
    return { items: [], metadata: { resourceVersion: "" } };
  }

  private makeWatch(): Watch {
    const lib = clientNode();
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the subclass reports to this informer
    class InformerWatch extends lib.Watch {
      override async watch(
        path: string,
        params: Record<string, string | number | boolean | undefined>,
        callback: WatchCallback,
        done: Done,
      ) {
        const refused = self.beforeWatch();
        if (refused) {
          done(refused);
          return new AbortController();
        }
        const started = Date.now();
        const query = {
          ...params,
          allowWatchBookmarks: true,
          timeoutSeconds: self.opts.watchTimeoutSeconds,
          ...(self.kind.fieldSelector ? { fieldSelector: self.kind.fieldSelector } : {}),
        };
        // The library hands out the watch's controller only once the response has started: a
        // stop() while the request is on its way could not abort it, and the watch (and its
        // socket) would live on until its 30 s inactivity timeout. Abort it as soon as it is known.
        let controller: AbortController | undefined;
        const onAbort = (): void => controller?.abort();
        self.signal.addEventListener("abort", onAbort, { once: true });
        try {
          controller = await super.watch(
            path,
            query,
            (phase, obj, raw) => self.onEvent(phase, obj, raw, callback),
            (e: unknown) => {
              self.signal.removeEventListener("abort", onAbort);
              if (Date.now() - started >= 1000) self.failures = 0;
              done(self.onDone(e));
            },
          );
        } catch (e) {
          self.signal.removeEventListener("abort", onAbort);
          throw e;
        }
        if (self.signal.aborted) controller.abort();
        return controller;
      }
    }
    return new InformerWatch(this.api.config);
  }

  /** Before each watch: report the first applied list, and refuse when stopping or absent. */
  private beforeWatch(): Error | undefined {
    if (this.listed) {
      this.listed = false;
      if (!this.synced) {
        this.synced = true;
        this.onSynced(this.kind);
      }
    }
    if (this.signal.aborted) return new Error("stopped");
    if (this.stats.absent) return absent;
    this.stats.watches++;
    return undefined;
  }

  private onEvent(phase: string, obj: unknown, raw: unknown, callback: WatchCallback): void {
    if (phase === "ERROR") {
      const s = (obj ?? {}) as StatusLike;
      if (isGone(s)) {
        this.stats.gone++;
      } else {
        this.failed("watch", `error event: ${s.code ?? "?"} ${s.reason ?? ""}: ${s.message ?? ""}`);
      }
      // Any error event: the informer re-lists (it does so for 410 only).
      callback("ERROR", { code: 410 }, raw);
      return;
    }
    const meta = (obj as { metadata?: { name?: unknown; resourceVersion?: unknown } } | null)?.metadata;
    if (phase === "BOOKMARK") {
      this.stats.bookmarks++;
    } else {
      if (typeof meta?.name !== "string" || meta.name === "") {
        this.log.warn({ kind: kindName(this.kind) }, "object without metadata.name from the API server ignored");
        return;
      }
      this.stats.events++;
    }
    if (typeof meta?.resourceVersion === "string") this.stats.resourceVersion = meta.resourceVersion;
    this.failures = 0;
    callback(phase, obj, raw);
  }

  /** How a watch ended, as the informer should see it. */
  private onDone(e: unknown): unknown {
    const x = e as { statusCode?: number } | null;
    if (x?.statusCode === 410) this.stats.gone++;
    // A CRD removed while watched: re-list, which finds it absent and deletes its objects.
    if (x?.statusCode === 404 && this.kind.optional) return { statusCode: 410 };
    return e;
  }

  /** Items of a list lack apiVersion/kind; add them, and drop what has no usable name. */
  private normalize(raw: unknown): KubeObject | undefined {
    if (typeof raw !== "object" || raw === null) return undefined;
    const o = raw as { metadata?: { name?: unknown } };
    if (typeof o.metadata?.name !== "string" || o.metadata.name === "") {
      this.log.warn({ kind: kindName(this.kind) }, "object without metadata.name from the API server ignored");
      return undefined;
    }
    return { ...(raw as KubeObject), apiVersion: apiVersionOf(this.kind), kind: this.kind.kind };
  }

  private failed(what: string, message: string): void {
    this.stats.errors++;
    // A server that stays down would otherwise log on every retry: warn on the first failure
    // of a streak and every 10th after it, the rest at debug.
    const level = this.failures % 10 === 0 ? "warn" : "debug";
    this.log[level]({ kind: kindName(this.kind), attempt: this.failures }, `${what} failed: ${message}`);
  }

  private async backoff(): Promise<void> {
    await sleep(backoffDelay(this.failures++, this.opts.backoff), this.signal);
  }
}
