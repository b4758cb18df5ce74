/**
 * Server-side apply of a set of objects, and its inverse: each object applied with one field
 * manager (forced, so weft owns the fields it sets, as `istioctl install` does), reported as
 * created, configured or unchanged (the resourceVersion moved or not); objects found by label
 * that are no longer in the set pruned; deletion that treats "already gone" as done; waits for
 * readiness (readiness.ts) or absence with a deadline and progress callbacks. Every failure is
 * an `err` naming the object. A shared layer: `weft install`/`uninstall` use it, controllers may.
 *
 * Timeouts (every request is bounded by the connection's per-request timeout): reads, lists,
 * server-side applies and deletes are idempotent, so one that timed out is tried again, up to
 * `attempts` in all, each retry reported through `onRetry`. A wait's probe is not retried on
 * the spot: a timed-out probe counts as one failed check, reported through `onRetry`, and the
 * wait goes on polling until its deadline. Other failures end the operation at once.
 */
import type { KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { type Result, ok, err } from "../../common/result.js";
import type { ApplyObjectApi } from "./object-api.js";
import { httpStatus, oneLine } from "./connect.js";
import { type Readiness, readiness } from "./readiness.js";
import { refOf } from "./ref.js";
import { CRD_REQUEUE_ANNOTATION, CrdRequeuePlan, terminatingDetail } from "./crd-cleanup.js";
import { isRequestTimeout } from "../client/kube-error.js";

export interface KubeObject extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
}

export type ApplyAction = "created" | "configured" | "unchanged";

export { refOf };

/** Tries of one idempotent request that timed out, by default. */
export const REQUEST_ATTEMPTS = 3;

export interface RetryOptions {
  /** Tries in all of a request that times out (reads, lists, applies, deletes); default REQUEST_ATTEMPTS. */
  readonly attempts?: number;
  /**
   * Progress: a request timed out (`message` names the object, the verb and the bound) and is
   * tried again, `attempt` being the try that failed; in a wait, `attempts` is undefined (it
   * polls until its deadline).
   */
  readonly onRetry?: (message: string, attempt: number, attempts?: number) => void;
}

/** Runs `op` until it does not time out or `attempts` tries have; the last error says how many. */
async function retried<T>(op: () => Promise<Result<T>>, r: RetryOptions): Promise<Result<T>> {
  const attempts = Math.max(1, r.attempts ?? REQUEST_ATTEMPTS);
  for (let attempt = 1; ; attempt++) {
    const res = await op();
    if (res.ok || !isRequestTimeout(res.error)) return res;
    if (attempt >= attempts)
      return attempts === 1 ? res : err(new Error(`${res.error.message} (${attempts} attempts)`, { cause: res.error }));
    r.onRetry?.(res.error.message, attempt, attempts);
  }
}

const header = (o: KubeObject) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) },
});

/** The object as the API server has it, undefined when absent. */
export function readObject(api: KubernetesObjectApi, o: KubeObject, r: RetryOptions = {}): Promise<Result<KubeObject | undefined>> {
  return retried(async () => {
    try {
      return ok((await api.read(header(o))) as KubeObject);
    } catch (e) {
      if (httpStatus(e) === 404) return ok(undefined);
      return err(new Error(`${refOf(o)}: read: ${oneLine(e)}`, { cause: e }));
    }
  }, r);
}

/** Server-side apply of `o` as given (ApplyObjectApi: not through the library's models, which drop fields they name differently). */
export async function applyObject(
  api: ApplyObjectApi,
  o: KubeObject,
  fieldManager: string,
  r: RetryOptions = {},
): Promise<Result<ApplyAction>> {
  const before = await readObject(api, o, r);
  if (!before.ok) return before;
  // A retry after a timed-out apply that did reach the server compares with the same `before`: still right.
  const after = await retried(async () => {
    try {
      return ok(await api.apply(o, fieldManager));
    } catch (e) {
      return err(new Error(`${refOf(o)}: apply: ${oneLine(e)}`, { cause: e }));
    }
  }, r);
  if (!after.ok) return after;
  if (!before.value) return ok("created");
  return ok(after.value.metadata?.resourceVersion === before.value.metadata.resourceVersion ? "unchanged" : "configured");
}

export type DeleteAction = "deleted" | "absent";

/** Deletes with background propagation (the garbage collector removes dependents); a retry after a timed-out delete that went through finds it `absent`. */
export function deleteObject(api: KubernetesObjectApi, o: KubeObject, r: RetryOptions = {}): Promise<Result<DeleteAction>> {
  return retried(async () => {
    try {
      await api.delete(header(o), undefined, undefined, undefined, undefined, "Background");
      return ok("deleted");
    } catch (e) {
      if (httpStatus(e) === 404) return ok("absent");
      return err(new Error(`${refOf(o)}: delete: ${oneLine(e)}`, { cause: e }));
    }
  }, r);
}

/** Every object of a kind with the label selector (all namespaces); a kind the server does not know is empty. */
export function listByLabel(
  api: KubernetesObjectApi,
  apiVersion: string,
  kind: string,
  labelSelector: string,
  r: RetryOptions = {},
): Promise<Result<KubeObject[]>> {
  return retried(async () => {
    try {
      const list = await api.list(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, labelSelector);
      return ok(list.items.map((i) => ({ ...i, apiVersion, kind }) as KubeObject));
    } catch (e) {
      if (isRequestTimeout(e)) return err(new Error(`${kind} (${labelSelector}): list: ${oneLine(e)}`, { cause: e }));
      const code = httpStatus(e);
      if (code === 404 || /unable to find api resource|not found/i.test(oneLine(e))) return ok([]);
      return err(new Error(`${kind} (${labelSelector}): list: ${oneLine(e)}`, { cause: e }));
    }
  }, r);
}

const key = (o: KubeObject): string => `${o.apiVersion.split("/")[0]}|${o.kind}|${o.metadata.namespace ?? ""}|${o.metadata.name}`;

/** Objects carrying the label that are not in `desired`, for every kind of `desired`. */
export async function strays(
  api: KubernetesObjectApi,
  desired: readonly KubeObject[],
  labelSelector: string,
  r: RetryOptions = {},
): Promise<Result<KubeObject[]>> {
  const want = new Set(desired.map(key));
  const kinds = new Map(desired.map((o) => [`${o.apiVersion}|${o.kind}`, o]));
  const out: KubeObject[] = [];
  for (const o of kinds.values()) {
    const found = await listByLabel(api, o.apiVersion, o.kind, labelSelector, r);
    if (!found.ok) return found;
    out.push(...found.value.filter((f) => !want.has(key(f))));
  }
  return ok(out);
}

export interface WaitOptions extends Pick<RetryOptions, "onRetry"> {
  readonly timeoutMs: number;
  readonly pollMs?: number;
  /** Called when an object's state text changes. */
  readonly onProgress?: (ref: string, state: Readiness) => void;
  readonly now?: () => number;
}

/** Until the next poll: `pollMs` (default 1 s), never past the deadline. */
function pause(o: WaitOptions, deadline: number, now: () => number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 1000, Math.max(0, deadline - now()))));
}

async function waitFor(
  objects: readonly KubeObject[],
  o: WaitOptions,
  probe: (x: KubeObject) => Promise<Result<Readiness>>,
): Promise<Result<void>> {
  const now = o.now ?? Date.now;
  const deadline = now() + o.timeoutMs;
  const last = new Map<string, string>();
  let timeouts = 0;
  let pending = [...objects];
  for (let round = 0; ; round++) {
    const still: KubeObject[] = [];
    const why: string[] = [];
    for (const x of pending) {
      const ref = refOf(x);
      // Timed-out probes take a request timeout each: the deadline is checked between them too.
      if (round > 0 && now() >= deadline) {
        still.push(x);
        why.push(`${ref}: ${last.get(ref) ?? "not checked"}`);
        continue;
      }
      const r = await probe(x);
      if (!r.ok && isRequestTimeout(r.error)) {
        // One failed check: the object stays pending and is probed again on the next round.
        o.onRetry?.(r.error.message, ++timeouts);
        still.push(x);
        why.push(`${ref}: ${r.error.message}`);
        continue;
      }
      if (!r.ok) return r;
      if (last.get(ref) !== r.value.detail) {
        last.set(ref, r.value.detail);
        o.onProgress?.(ref, r.value);
      }
      if (!r.value.ready) {
        still.push(x);
        why.push(`${ref}: ${r.value.detail}`);
      }
    }
    pending = still;
    if (!pending.length) return ok(undefined);
    if (now() >= deadline) return err(new Error(`not ready after ${Math.round(o.timeoutMs / 1000)} s: ${why.join("; ")}`));
    await pause(o, deadline, now);
  }
}

/** Waits until every object is ready (readiness.ts). */
export function waitReady(api: KubernetesObjectApi, objects: readonly KubeObject[], o: WaitOptions): Promise<Result<void>> {
  return waitFor(objects, o, async (x) => {
    const cur = await readObject(api, x, { attempts: 1 });
    if (!cur.ok) return cur;
    return ok(
      cur.value ? readiness({ ...(cur.value as Parameters<typeof readiness>[0]), kind: x.kind }) : { ready: false, detail: "missing" },
    );
  });
}

export interface WaitGoneOptions extends WaitOptions {
  /** A deleted CRD still terminating this long is queued again in the API server (crd-cleanup.ts); default 10 s. */
  readonly crdRequeueAfterMs?: number;
  /** A stalled CRD cleanup was nudged (`error`: the nudge failed; the wait goes on). */
  readonly onRequeue?: (ref: string, error?: string) => void;
}

/**
 * Waits until every object is gone. A CRD whose cleanup in the API server stalls (crd-cleanup.ts)
 * is nudged every `crdRequeueAfterMs`; a failed nudge is reported, never the end of the wait.
 */
export function waitGone(api: ApplyObjectApi, objects: readonly KubeObject[], o: WaitGoneOptions): Promise<Result<void>> {
  const plan = new CrdRequeuePlan(o.crdRequeueAfterMs);
  const now = o.now ?? Date.now;
  return waitFor(objects, o, async (x) => {
    const cur = await readObject(api, x, { attempts: 1 });
    if (!cur.ok) return cur;
    const v = cur.value;
    if (!v) return ok({ ready: true, detail: "gone" });
    const ref = refOf(x);
    if (plan.due(ref, v, now())) {
      try {
        await api.mergePatch(header(v), { metadata: { annotations: { [CRD_REQUEUE_ANNOTATION]: new Date(now()).toISOString() } } });
        o.onRequeue?.(ref);
      } catch (e) {
        // Gone meanwhile is what the wait is for; anything else (e.g. no patch permission) is only reported.
        if (httpStatus(e) !== 404) o.onRequeue?.(ref, oneLine(e));
      }
    }
    if (!v.metadata.deletionTimestamp) return ok({ ready: false, detail: "still there" });
    return ok({ ready: false, detail: v.kind === "CustomResourceDefinition" ? terminatingDetail(v) : "terminating" });
  });
}

/** Waits until no object of a kind carries the label (e.g. a DaemonSet's pods after its deletion). */
export async function waitNone(
  api: KubernetesObjectApi,
  what: { apiVersion: string; kind: string; labelSelector: string },
  o: WaitOptions,
): Promise<Result<void>> {
  const now = o.now ?? Date.now;
  const deadline = now() + o.timeoutMs;
  let last = -1;
  let timeouts = 0;
  for (;;) {
    const found = await listByLabel(api, what.apiVersion, what.kind, what.labelSelector, { attempts: 1 });
    if (!found.ok && !isRequestTimeout(found.error)) return found;
    if (!found.ok) {
      // One failed check: polled again until the deadline.
      o.onRetry?.(found.error.message, ++timeouts);
      if (now() >= deadline)
        return err(new Error(`not known to be gone after ${Math.round(o.timeoutMs / 1000)} s: ${found.error.message}`));
      await pause(o, deadline, now);
      continue;
    }
    const n = found.value.length;
    if (n !== last) {
      last = n;
      o.onProgress?.(`${what.kind}s ${what.labelSelector}`, { ready: n === 0, detail: n === 0 ? "none left" : `${n} left` });
    }
    if (n === 0) return ok(undefined);
    if (now() >= deadline)
      return err(
        new Error(
          `${n} ${what.kind}(s) ${what.labelSelector} still there after ${Math.round(o.timeoutMs / 1000)} s: ${found.value.map(refOf).join(", ")}`,
        ),
      );
    await pause(o, deadline, now);
  }
}
