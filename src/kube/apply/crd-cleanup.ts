/**
 * A deleted CustomResourceDefinition whose cleanup stalls in the API server, and the nudge that
 * restarts it.
 *
 * A CRD is deleted in two steps inside kube-apiserver: the delete sets its deletionTimestamp,
 * and the API server's own CRD finalizer controller (apiextensions-apiserver
 * `pkg/controller/finalizer/crd_finalizer.go`) deletes the CRD's objects and removes the
 * `customresourcecleanup.apiextensions.k8s.io` finalizer, after which the CRD is gone. When that
 * controller fails, it queues the CRD again with exponential backoff (5 ms doubling per failure,
 * up to 1000 s). Seen here, right after CRDs are created or deleted: the Terminating condition
 * `InstanceDeletionFailed: could not list instances: storage is (re)initializing`, repeated while
 * the kind's storage is rebuilt, so the backoff grows and the CRD stays Terminating for minutes
 * with no object of its kind left (`weft uninstall --purge` in CI, 2026-12-02: one CRD of fifteen
 * past 100 s; a repro of 30 install/uninstall rounds hit it in 4). A second way to stall: on a
 * conflicting status write the controller returns without retrying ("we'll get called again"),
 * and it skips update events whose only difference is its own Terminating condition.
 *
 * The nudge: a metadata-only change (an annotation with the time) is an update event that differs
 * in more than the Terminating condition, so the controller queues the CRD again at once, outside
 * the backoff. In the repro, the four stalled rounds finished about 13 s after the delete. It is
 * harmless when nothing was stalled: the controller then finds its work done or does it again.
 */
/** What these decisions read of an object (apply.ts's KubeObject is one). */
export interface ObjectLike {
  readonly kind: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export const CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io";
/** Set on a terminating CRD to queue it again in the API server's finalizer controller. */
export const CRD_REQUEUE_ANNOTATION = "weft.io/cleanup-requeued-at";
/** How long a CRD may be seen terminating before it is nudged, and between two nudges. */
export const CRD_REQUEUE_AFTER_MS = 10_000;

interface CrdStatus {
  status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

/** Deleted, and still waiting for the API server's own cleanup (its finalizer present). */
export function crdCleanupPending(o: ObjectLike): boolean {
  if (o.kind !== "CustomResourceDefinition" || !o.metadata.deletionTimestamp) return false;
  const f = o.metadata.finalizers;
  return Array.isArray(f) && f.includes(CRD_CLEANUP_FINALIZER);
}

/** "terminating", with the CRD's Terminating condition when it has one (what the cleanup is doing). */
export function terminatingDetail(o: ObjectLike): string {
  const c = (o as ObjectLike & CrdStatus).status?.conditions?.find((x) => x.type === "Terminating");
  if (!c?.reason) return "terminating";
  return `terminating (${c.reason}${c.message ? `: ${c.message}` : ""})`;
}

/**
 * Which terminating CRDs to nudge now: seen pending for `afterMs` (by this process's clock, not
 * the server's deletionTimestamp, so clock skew does not matter) and not nudged for `afterMs`.
 * Pure; `seen` and `nudged` (ref -> ms) are the caller's memory across polls.
 */
export class CrdRequeuePlan {
  private readonly seen = new Map<string, number>();
  private readonly nudged = new Map<string, number>();

  constructor(private readonly afterMs = CRD_REQUEUE_AFTER_MS) {}

  /** Records `o` as observed at `now`; true when it should be nudged now (then recorded as nudged). */
  due(ref: string, o: ObjectLike, now: number): boolean {
    if (!crdCleanupPending(o)) {
      this.seen.delete(ref);
      this.nudged.delete(ref);
      return false;
    }
    const first = this.seen.get(ref) ?? now;
    this.seen.set(ref, first);
    const last = this.nudged.get(ref) ?? first;
    if (now - last < this.afterMs) return false;
    this.nudged.set(ref, now);
    return true;
  }
}
