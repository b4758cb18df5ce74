/**
 * The W3C `baggage` header of an HBONE CONNECT, as upstream ztunnel writes and reads it
 * (istio/ztunnel src/baggage.rs): the source workload's cluster, namespace, workload name (keyed
 * by its kind: `k8s.deployment.name`, `k8s.pod.name`, `k8s.job.name`, `k8s.cronjob.name`),
 * canonical service and revision, region and zone. The receiving side uses it to label
 * connections whose source it does not know (another cluster, another mesh's ztunnel). It is
 * written by the peer, so it never decides identity: source_principal comes from mTLS. Pure.
 */

export interface Baggage {
  readonly clusterId?: string;
  readonly namespace?: string;
  readonly workloadName?: string;
  readonly serviceName?: string;
  readonly revision?: string;
  readonly region?: string;
  readonly zone?: string;
}

/** The source facts baggage carries, from the domain Workload. */
export interface BaggageSource {
  readonly clusterId: string;
  readonly namespace: string;
  readonly workloadName: string;
  readonly workloadType: "DEPLOYMENT" | "CRONJOB" | "POD" | "JOB";
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly locality?: { readonly region: string; readonly zone: string };
}

const WORKLOAD_KEYS = ["k8s.deployment.name", "k8s.cronjob.name", "k8s.pod.name", "k8s.job.name"];
// Characters baggage values may carry without percent-encoding (RFC W3C baggage: no CTLs, whitespace, DQUOTE, comma, semicolon, backslash).
const SAFE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

export function baggageHeader(w: BaggageSource): string {
  const kind = w.workloadType.toLowerCase();
  const pairs: Array<[string, string | undefined]> = [
    ["k8s.cluster.name", w.clusterId],
    ["k8s.namespace.name", w.namespace],
    [`k8s.${kind}.name`, w.workloadName],
    ["service.name", w.canonicalName],
    ["service.version", w.canonicalRevision],
    ["cloud.region", w.locality?.region],
    ["cloud.availability_zone", w.locality?.zone],
  ];
  return pairs
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${SAFE.test(v!) ? v : encodeURIComponent(v!)}`)
    .join(",");
}

/** Reads every `baggage` value (repeated headers are one list); unknown keys and properties are ignored. */
export function parseBaggage(value: string | readonly string[] | undefined): Baggage {
  const out: { -readonly [K in keyof Baggage]: string | undefined } = {};
  const values = value === undefined ? [] : typeof value === "string" ? [value] : value;
  for (const v of values) {
    for (const member of v.split(",")) {
      const [kv] = member.split(";");
      const eq = kv!.indexOf("=");
      if (eq <= 0) continue;
      const key = kv!.slice(0, eq).trim();
      let val: string | undefined = kv!.slice(eq + 1).trim();
      try {
        val = decodeURIComponent(val);
      } catch {
        /* kept as sent */
      }
      if (val === "") val = undefined;
      if (key === "k8s.cluster.name") out.clusterId = val;
      else if (key === "k8s.namespace.name") out.namespace = val;
      else if (WORKLOAD_KEYS.includes(key)) out.workloadName = val;
      else if (key === "service.name") out.serviceName = val;
      else if (key === "service.version") out.revision = val;
      else if (key === "cloud.region") out.region = val;
      else if (key === "cloud.availability_zone") out.zone = val;
    }
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Baggage;
}
