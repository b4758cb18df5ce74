/**
 * Is an applied object ready? Pure, from the object as the API server returns it: a Deployment
 * when its controller observed the current generation and every replica is updated and
 * available, a DaemonSet when every scheduled pod is updated and available, a CRD when it is
 * Established; everything else as soon as it exists. The text says what is missing.
 */
export interface Readiness {
  readonly ready: boolean;
  /** `1/1 available`, `0/3 updated`, `established`, `waiting for the controller`, ... */
  readonly detail: string;
}

interface Observed {
  kind?: string;
  metadata?: { generation?: number; deletionTimestamp?: string };
  spec?: { replicas?: number };
  status?: Record<string, unknown>;
}

const num = (v: unknown): number => (typeof v === "number" ? v : 0);

export function readiness(o: Observed): Readiness {
  const st = o.status ?? {};
  if (o.metadata?.deletionTimestamp) return { ready: false, detail: "being deleted" };
  const observed = typeof st.observedGeneration === "number" && st.observedGeneration >= (o.metadata?.generation ?? 0);
  switch (o.kind) {
    case "Deployment": {
      if (!observed) return { ready: false, detail: "waiting for the deployment controller" };
      const want = o.spec?.replicas ?? 1;
      const updated = num(st.updatedReplicas);
      const available = num(st.availableReplicas);
      if (updated < want) return { ready: false, detail: `${updated}/${want} updated` };
      return { ready: available >= want && num(st.replicas) <= want, detail: `${available}/${want} available` };
    }
    case "DaemonSet": {
      if (!observed) return { ready: false, detail: "waiting for the daemonset controller" };
      const want = num(st.desiredNumberScheduled);
      const updated = num(st.updatedNumberScheduled);
      const available = num(st.numberAvailable);
      if (updated < want) return { ready: false, detail: `${updated}/${want} nodes updated` };
      return { ready: available >= want, detail: `${available}/${want} nodes available` };
    }
    case "CustomResourceDefinition": {
      const conds = (st.conditions ?? []) as { type?: string; status?: string }[];
      const est = conds.some((c) => c.type === "Established" && c.status === "True");
      return { ready: est, detail: est ? "established" : "not established yet" };
    }
    default:
      return { ready: true, detail: "exists" };
  }
}

/** Kinds whose readiness takes a controller's work (worth waiting and reporting on). */
export const WAITED_KINDS: readonly string[] = ["Deployment", "DaemonSet", "CustomResourceDefinition"];
