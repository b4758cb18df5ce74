/**
 * Pure bookkeeping for one watched kind: what the sink has been told (key -> resourceVersion),
 * and the events that bring the sink from that to a fresh list or a watch event.
 *
 * Invariant: after `diffList` the known map equals the listed set, so a re-list after a broken
 * watch or 410 Gone emits a delete for every object that vanished meanwhile and an upsert for
 * every object that is new or changed (resourceVersion differs) — nothing that happened while
 * the watch was down is lost, and unchanged objects are not re-sent.
 */
import type { KubeObject } from "../object.js";
import { objectKey } from "../object.js";

/** What the sink currently holds for one kind: object key -> resourceVersion. */
export type Known = Map<string, string>;

export type Change = { readonly type: "upsert"; readonly object: KubeObject } | { readonly type: "delete"; readonly key: string };

/** Events that turn `known` into `listed`; updates `known` in place. Deletes come first, in key order. */
export function diffList(known: Known, listed: readonly KubeObject[]): Change[] {
  const seen = new Set<string>();
  const upserts: Change[] = [];
  for (const o of listed) {
    const key = objectKey(o);
    seen.add(key);
    const rv = o.metadata.resourceVersion ?? "";
    if (known.get(key) !== rv || rv === "") {
      known.set(key, rv);
      upserts.push({ type: "upsert", object: o });
    }
  }
  const deletes: Change[] = [];
  for (const key of [...known.keys()].sort()) {
    if (!seen.has(key)) {
      known.delete(key);
      deletes.push({ type: "delete", key });
    }
  }
  return [...deletes, ...upserts];
}

/**
 * The change for one watch event, or undefined when it changes nothing the sink holds
 * (a replayed ADDED/MODIFIED at a resourceVersion already delivered, or a DELETED of an
 * object the sink never had).
 */
export function applyWatchEvent(known: Known, type: "ADDED" | "MODIFIED" | "DELETED", o: KubeObject): Change | undefined {
  const key = objectKey(o);
  if (type === "DELETED") {
    if (!known.has(key)) return undefined;
    known.delete(key);
    return { type: "delete", key };
  }
  const rv = o.metadata.resourceVersion ?? "";
  if (rv !== "" && known.get(key) === rv) return undefined;
  known.set(key, rv);
  return { type: "upsert", object: o };
}

/** Forgets everything (the kind's CRD was removed): deletes for every known object. */
export function dropAll(known: Known): Change[] {
  const out: Change[] = [...known.keys()].sort().map((key) => ({ type: "delete" as const, key }));
  known.clear();
  return out;
}
