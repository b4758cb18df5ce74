/**
 * List+watch of one kind (a "reflector" in client-go's words): list, deliver the difference to
 * what was delivered before, watch from the list's resourceVersion with bookmarks, and on any
 * break either resume the watch from the last resourceVersion seen or, when the server says it
 * is too old (410 Gone / Expired), list again.
 *
 * Invariants:
 * - Changes leave through `emit` in the order the server produced them; a re-list's changes are
 *   the exact difference (see kube-relist.ts), so no event is lost across a reconnect.
 * - An optional (CRD) kind whose collection answers 404 counts as synced and empty; any objects
 *   delivered before are deleted; the reflector checks again every `absentRecheckMs`.
 * - Failures back off exponentially with jitter; only a watch that delivered events or stayed
 *   open for a second resets the streak (so repeated immediate 410s or closes back off too).
 */
import type { Logger } from "../../common/log.js";
import type { KubeObject } from "../object.js";
import type { KubeClient, KubeError, WatchEvent } from "./kube-client.js";
import type { WatchedKind } from "./kube-kinds.js";
import type { Change, Known } from "./kube-relist.js";
import type { BackoffPolicy } from "./kube-backoff.js";
import { apiVersionOf, collectionPath, kindName } from "./kube-kinds.js";
import { applyWatchEvent, diffList, dropAll } from "./kube-relist.js";
import { backoffDelay, sleep } from "./kube-backoff.js";

export interface ReflectorOptions {
  readonly backoff: BackoffPolicy;
  /** Items per list page (`limit`). */
  readonly pageSize: number;
  /** Server-side watch timeout; the server ends the stream after about this long and we re-watch. */
  readonly watchTimeoutSeconds: number;
  /** How often a missing CRD kind is looked for again. */
  readonly absentRecheckMs: number;
  readonly requestTimeoutMs: number;
}

export interface ReflectorStats {
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

interface ListAnswer {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

/** How the source learns about changes: one call per list diff or watch event. */
export type Emit = (kind: WatchedKind, changes: Change[]) => void;

export class KubeReflector {
  readonly stats: ReflectorStats = {
    lists: 0,
    watches: 0,
    gone: 0,
    errors: 0,
    bookmarks: 0,
    events: 0,
    absent: false,
    resourceVersion: "",
  };
  private readonly known: Known = new Map();
  private failures = 0;

  constructor(
    private readonly client: KubeClient,
    readonly kind: WatchedKind,
    private readonly emit: Emit,
    private readonly onSynced: (kind: WatchedKind) => void,
    private readonly opts: ReflectorOptions,
    private readonly log: Logger,
  ) {}

  /** Runs until the signal aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    let synced = false;
    while (!signal.aborted) {
      const listed = await this.list(signal);
      if (signal.aborted) return;
      if (listed === "absent") {
        if (!this.stats.absent)
          this.log.warn({ kind: kindName(this.kind) }, "kind not served (CRD not installed?): treated as empty, checking again later");
        this.stats.absent = true;
        const drops = dropAll(this.known);
        if (drops.length > 0) this.emit(this.kind, drops);
        if (!synced) {
          synced = true;
          this.onSynced(this.kind);
        }
        await sleep(this.opts.absentRecheckMs, signal);
        continue;
      }
      if (listed === "retry") {
        await this.backoff(signal);
        continue;
      }
      if (this.stats.absent) this.log.info({ kind: kindName(this.kind) }, "kind is served now");
      this.stats.absent = false;
      const changes = diffList(this.known, listed.items);
      if (changes.length > 0) this.emit(this.kind, changes);
      if (!synced) {
        synced = true;
        this.onSynced(this.kind);
      }
      // The failure streak is reset by a watch that works, not by the list: a server that
      // answers every fresh watch with 410 must not be re-listed in a tight loop.
      await this.watchFrom(listed.resourceVersion, signal);
    }
  }

  /** Full paginated list; "retry" after an error (already logged), "absent" for a missing CRD. */
  private async list(signal: AbortSignal): Promise<{ items: KubeObject[]; resourceVersion: string } | "retry" | "absent"> {
    this.stats.lists++;
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const q = new URLSearchParams({ limit: String(this.opts.pageSize) });
      if (cont) q.set("continue", cont);
      const res = await this.client.request<ListAnswer>("GET", `${collectionPath(this.kind)}?${q}`, undefined, {
        signal,
        timeoutMs: this.opts.requestTimeoutMs,
      });
      if (!res.ok) {
        if (res.error.code === "aborted") return "retry";
        if (res.error.httpStatus === 404 && this.kind.optional) return "absent";
        if (isGone(res.error)) {
          // The continue token outlived etcd's compaction: start the list over.
          this.stats.gone++;
          this.log.info({ kind: kindName(this.kind) }, "list continuation expired, listing again");
          return "retry";
        }
        this.failed("list", res.error);
        return "retry";
      }
      for (const raw of res.value.items ?? []) {
        const o = this.normalize(raw);
        if (o) items.push(o);
      }
      rv = res.value.metadata?.resourceVersion ?? rv;
      cont = res.value.metadata?.continue || undefined;
    } while (cont && !signal.aborted);
    this.stats.resourceVersion = rv;
    return { items, resourceVersion: rv };
  }

  /** Watches (and re-watches) from `rv` until a re-list is needed or the signal aborts. */
  private async watchFrom(rv: string, signal: AbortSignal): Promise<void> {
    let resourceVersion = rv;
    while (!signal.aborted) {
      this.stats.watches++;
      const q = new URLSearchParams({
        watch: "1",
        allowWatchBookmarks: "true",
        resourceVersion,
        timeoutSeconds: String(this.opts.watchTimeoutSeconds),
      });
      const started = Date.now();
      let delivered = 0;
      let gone = false;
      let failure: string | undefined;
      const watchAbort = new AbortController();
      const onOuterAbort = (): void => watchAbort.abort();
      signal.addEventListener("abort", onOuterAbort, { once: true });
      const res = await this.client.watch(
        `${collectionPath(this.kind)}?${q}`,
        (ev: WatchEvent) => {
          if (gone || failure) return;
          if (ev.type === "ERROR") {
            const status = ev.object as { code?: number; reason?: string; message?: string };
            if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone") gone = true;
            else failure = `watch error event: ${status.code ?? "?"} ${status.reason ?? ""}: ${status.message ?? ""}`;
            watchAbort.abort();
            return;
          }
          const meta = (ev.object as { metadata?: { resourceVersion?: unknown } }).metadata;
          const evRv = typeof meta?.resourceVersion === "string" ? meta.resourceVersion : undefined;
          if (ev.type === "BOOKMARK") {
            this.stats.bookmarks++;
            if (evRv) resourceVersion = evRv;
            this.stats.resourceVersion = resourceVersion;
            return;
          }
          const o = this.normalize(ev.object);
          if (!o) return;
          delivered++;
          this.stats.events++;
          const change = applyWatchEvent(this.known, ev.type, o);
          if (evRv) resourceVersion = evRv;
          this.stats.resourceVersion = resourceVersion;
          if (change) this.emit(this.kind, [change]);
        },
        watchAbort.signal,
      );
      signal.removeEventListener("abort", onOuterAbort);
      if (signal.aborted) return;
      const healthy = delivered > 0 || Date.now() - started >= 1000;
      if (healthy) this.failures = 0;
      if (gone || (!res.ok && isGone(res.error))) {
        this.stats.gone++;
        this.log.info({ kind: kindName(this.kind), resourceVersion }, "watch resourceVersion too old (410 Gone): re-listing");
        if (!healthy) await this.backoff(signal);
        return;
      }
      if (failure) {
        this.failed("watch", failure);
        await this.backoff(signal);
        return; // an unexplained error event: re-list to be sure of the state
      }
      if (!res.ok) {
        if (res.error.httpStatus === 404 && this.kind.optional) return; // CRD removed: list says so
        this.failed("watch", res.error);
        await this.backoff(signal);
        continue; // resume from the last resourceVersion seen
      }
      // The server closed the stream (timeoutSeconds elapsed, or it is shutting down).
      if (!healthy) await this.backoff(signal);
    }
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

  private failed(what: string, e: KubeError | string): void {
    this.stats.errors++;
    const message = typeof e === "string" ? e : e.message;
    // A server that stays down would otherwise log on every retry: warn on the first failure
    // of a streak and every 10th after it, the rest at debug.
    const level = this.failures % 10 === 0 ? "warn" : "debug";
    this.log[level]({ kind: kindName(this.kind), attempt: this.failures }, `${what} failed: ${message}`);
  }

  private async backoff(signal: AbortSignal): Promise<void> {
    await sleep(backoffDelay(this.failures++, this.opts.backoff), signal);
  }
}

function isGone(e: KubeError): boolean {
  return e.httpStatus === 410 || e.reason === "Expired" || e.reason === "Gone";
}
