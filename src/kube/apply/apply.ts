/**
 * Server-side apply of a set of objects, and its inverse: each object applied with one field
 * manager (forced, so weft owns the fields it sets, as `istioctl install` does), reported as
 * created, configured or unchanged (the resourceVersion moved or not); objects found by label
 * that are no longer in the set pruned; deletion that treats "already gone" as done; waits for
 * readiness (readiness.ts) or absence with a deadline and progress callbacks. Every failure is
 * an `err` naming the object. A shared layer: `weft install`/`uninstall` use it, controllers may.
 */
import type { KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { type Result, ok, err } from "../../common/result.js";
import type { ApplyObjectApi } from "./object-api.js";
import { httpStatus, oneLine } from "./connect.js";
import { type Readiness, readiness } from "./readiness.js";
import { refOf } from "./ref.js";

export interface KubeObject extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
}

export type ApplyAction = "created" | "configured" | "unchanged";

export { refOf };

const header = (o: KubeObject) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) },
});

/** The object as the API server has it, undefined when absent. */
export async function readObject(api: KubernetesObjectApi, o: KubeObject): Promise<Result<KubeObject | undefined>> {
  try {
    return ok((await api.read(header(o))) as KubeObject);
  } catch (e) {
    if (httpStatus(e) === 404) return ok(undefined);
    return err(new Error(`${refOf(o)}: read: ${oneLine(e)}`));
  }
}

/** Server-side apply of `o` as given (ApplyObjectApi: not through the library's models, which drop fields they name differently). */
export async function applyObject(api: ApplyObjectApi, o: KubeObject, fieldManager: string): Promise<Result<ApplyAction>> {
  const before = await readObject(api, o);
  if (!before.ok) return before;
  try {
    const after = await api.apply(o, fieldManager);
    if (!before.value) return ok("created");
    return ok(after.metadata?.resourceVersion === before.value.metadata.resourceVersion ? "unchanged" : "configured");
  } catch (e) {
    return err(new Error(`${refOf(o)}: apply: ${oneLine(e)}`));
  }
}

export type DeleteAction = "deleted" | "absent";

/** Deletes with background propagation (the garbage collector removes dependents). */
export async function deleteObject(api: KubernetesObjectApi, o: KubeObject): Promise<Result<DeleteAction>> {
  try {
    await api.delete(header(o), undefined, undefined, undefined, undefined, "Background");
    return ok("deleted");
  } catch (e) {
    if (httpStatus(e) === 404) return ok("absent");
    return err(new Error(`${refOf(o)}: delete: ${oneLine(e)}`));
  }
}

/** Every object of a kind with the label selector (all namespaces); a kind the server does not know is empty. */
export async function listByLabel(
  api: KubernetesObjectApi,
  apiVersion: string,
  kind: string,
  labelSelector: string,
): Promise<Result<KubeObject[]>> {
  try {
    const list = await api.list(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, labelSelector);
    return ok(list.items.map((i) => ({ ...i, apiVersion, kind }) as KubeObject));
  } catch (e) {
    const code = httpStatus(e);
    if (code === 404 || /unable to find api resource|not found/i.test(oneLine(e))) return ok([]);
    return err(new Error(`${kind} (${labelSelector}): list: ${oneLine(e)}`));
  }
}

const key = (o: KubeObject): string => `${o.apiVersion.split("/")[0]}|${o.kind}|${o.metadata.namespace ?? ""}|${o.metadata.name}`;

/** Objects carrying the label that are not in `desired`, for every kind of `desired`. */
export async function strays(
  api: KubernetesObjectApi,
  desired: readonly KubeObject[],
  labelSelector: string,
): Promise<Result<KubeObject[]>> {
  const want = new Set(desired.map(key));
  const kinds = new Map(desired.map((o) => [`${o.apiVersion}|${o.kind}`, o]));
  const out: KubeObject[] = [];
  for (const o of kinds.values()) {
    const found = await listByLabel(api, o.apiVersion, o.kind, labelSelector);
    if (!found.ok) return found;
    out.push(...found.value.filter((f) => !want.has(key(f))));
  }
  return ok(out);
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollMs?: number;
  /** Called when an object's state text changes. */
  readonly onProgress?: (ref: string, state: Readiness) => void;
  readonly now?: () => number;
}

async function waitFor(
  objects: readonly KubeObject[],
  o: WaitOptions,
  probe: (x: KubeObject) => Promise<Result<Readiness>>,
): Promise<Result<void>> {
  const now = o.now ?? Date.now;
  const deadline = now() + o.timeoutMs;
  const last = new Map<string, string>();
  let pending = [...objects];
  for (;;) {
    const still: KubeObject[] = [];
    const why: string[] = [];
    for (const x of pending) {
      const r = await probe(x);
      if (!r.ok) return r;
      const ref = refOf(x);
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
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 1000, Math.max(0, deadline - now()))));
  }
}

/** Waits until every object is ready (readiness.ts). */
export function waitReady(api: KubernetesObjectApi, objects: readonly KubeObject[], o: WaitOptions): Promise<Result<void>> {
  return waitFor(objects, o, async (x) => {
    const cur = await readObject(api, x);
    if (!cur.ok) return cur;
    return ok(
      cur.value ? readiness({ ...(cur.value as Parameters<typeof readiness>[0]), kind: x.kind }) : { ready: false, detail: "missing" },
    );
  });
}

/** Waits until every object is gone. */
export function waitGone(api: KubernetesObjectApi, objects: readonly KubeObject[], o: WaitOptions): Promise<Result<void>> {
  return waitFor(objects, o, async (x) => {
    const cur = await readObject(api, x);
    if (!cur.ok) return cur;
    return ok(
      cur.value
        ? { ready: false, detail: cur.value.metadata.deletionTimestamp ? "terminating" : "still there" }
        : { ready: true, detail: "gone" },
    );
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
  for (;;) {
    const found = await listByLabel(api, what.apiVersion, what.kind, what.labelSelector);
    if (!found.ok) return found;
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
    await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 1000, Math.max(0, deadline - now()))));
  }
}
