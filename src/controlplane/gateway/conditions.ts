/**
 * Kubernetes status conditions (metav1.Condition) as the status writers build them: a wanted
 * condition keeps the previous `lastTransitionTime` while its status is unchanged (apimachinery's
 * SetStatusCondition), so recomputing an unchanged status gives an identical object and nothing
 * is written; and a deep comparison that decides whether a status write is due at all.
 */
import { isPlainObject } from "../../kube/validate/validate-schema.js";

export type ConditionStatus = "True" | "False" | "Unknown";

export interface WantedCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

export interface Condition extends WantedCondition {
  readonly observedGeneration?: number;
  readonly lastTransitionTime: string;
}

/** The conditions to write: `wanted` in order, each with its transition time carried over from `previous` when the status is the same. */
export function conditions(
  wanted: readonly WantedCondition[],
  previous: unknown,
  generation: number | undefined,
  now: string,
): Condition[] {
  const prev = new Map<string, Record<string, unknown>>();
  for (const c of Array.isArray(previous) ? previous : []) if (isPlainObject(c) && typeof c.type === "string") prev.set(c.type, c);
  return wanted.map((w) => {
    const p = prev.get(w.type);
    const since = p && p.status === w.status && typeof p.lastTransitionTime === "string" ? p.lastTransitionTime : now;
    return {
      type: w.type,
      status: w.status,
      reason: w.reason,
      message: w.message,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: since,
    };
  });
}

/** Structural equality of JSON values; object key order does not matter, array order does. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameJson(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => sameJson(a[k], b[k]));
  }
  return false;
}

/** RFC 3339 seconds precision, as the API server stores metav1.Time. */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
