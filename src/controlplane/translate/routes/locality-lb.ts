/**
 * Locality load balancing in a ClusterLoadAssignment, relative to the waypoint's own locality
 * and labels, as istiod's loadbalancer package does for each proxy
 * (pilot/pkg/networking/core/loadbalancer):
 * - `distribute`: the first entry whose `from` matches the waypoint's locality sets each
 *   locality's load_balancing_weight to weight * (its own weight / the matched localities'
 *   total), rounded up; localities no `to` matches lose their endpoints.
 * - failover (only when outlier detection is on, Istio's rule): `failoverPriority` labels first
 *   (an endpoint's priority is the number of leading labels it shares with the waypoint,
 *   counted from the end; `label=value` overrides the waypoint's value), then locality:
 *   priority 0 same region/zone/subzone, 1 same zone, 2 same region, 3 other regions, 4 other
 *   regions than the `failover` target of the waypoint's region. Priorities are compacted to
 *   0..n-1.
 * Istio's mesh default is `localityLbSetting.enabled: true`: with outlier detection and no
 * DestinationRule setting, locality failover applies. `enabled: false` turns it off. Pure.
 */
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { ClusterLoadAssignment, LbEndpoint, LocalityEndpoints } from "./envoy-types.js";

export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

/** The waypoint pod's place: locality and labels (with Istio's topology labels added). */
export interface ProxyPlace {
  readonly locality: Locality;
  readonly labels: Readonly<Record<string, string>>;
}

/** Istio's util.LocalityMatch: `region/zone/subzone` parts, `*` or a missing part matches anything. */
export function localityMatch(l: Locality, pattern: string): boolean {
  const parts = pattern.split("/");
  const have = [l.region, l.zone, l.subZone];
  for (let i = 0; i < parts.length && i < 3; i++) {
    if (parts[i] === "*") return true;
    if (parts[i] !== have[i]) return false;
  }
  return true;
}

/** Istio's util.LbPriority. */
export function lbPriority(proxy: Locality, ep: Locality): number {
  if (proxy.region !== ep.region) return 3;
  if (proxy.zone !== ep.zone) return 2;
  return proxy.subZone === ep.subZone ? 0 : 1;
}

type Obj = Record<string, unknown>;

/** The CLA with locality weights or failover priorities applied (unchanged when neither applies). */
export function applyLocalityLb(
  cla: ClusterLoadAssignment,
  proxy: ProxyPlace,
  setting: Obj | undefined,
  outlierDetection: boolean,
): ClusterLoadAssignment {
  if (setting?.enabled === false) return cla;
  const distribute = Array.isArray(setting?.distribute) ? setting.distribute.filter(isPlainObject) : [];
  if (distribute.length) return { ...cla, localities: localityWeights(cla.localities, proxy.locality, distribute) };
  if (!outlierDetection) return cla;
  const failover = Array.isArray(setting?.failover) ? setting.failover.filter(isPlainObject) : [];
  const labels = Array.isArray(setting?.failoverPriority) ? setting.failoverPriority.filter((x): x is string => typeof x === "string") : [];
  let localities = cla.localities;
  if (labels.length) {
    localities = failoverPriorities(localities, proxy.labels, labels);
    if (failover.length) localities = localityFailover(localities, proxy.locality, failover);
  } else localities = localityFailover(localities, proxy.locality, failover);
  return { ...cla, localities };
}

function localityWeights(localities: readonly LocalityEndpoints[], proxy: Locality, distribute: Obj[]): LocalityEndpoints[] {
  const rule = distribute.find((d) => typeof d.from === "string" && localityMatch(proxy, d.from));
  if (!rule || !isPlainObject(rule.to)) return [...localities];
  const weights = new Map<number, number>();
  const unmatched = new Set(localities.map((_, i) => i));
  for (const [pattern, w] of Object.entries(rule.to)) {
    const matched = [...unmatched].filter((i) => localityMatch(localities[i]!.locality, pattern));
    const own = (i: number) => localities[i]!.weight ?? localities[i]!.endpoints.reduce((s, e) => s + e.weight, 0);
    const total = matched.reduce((s, i) => s + own(i), 0);
    for (const i of matched) {
      unmatched.delete(i);
      const share = (own(i) * Number(w)) / total;
      if (share > 0) weights.set(i, Math.ceil(share));
    }
  }
  return localities.map((l, i) => (unmatched.has(i) ? { ...l, endpoints: [] } : weights.has(i) ? { ...l, weight: weights.get(i)! } : l));
}

function localityFailover(localities: readonly LocalityEndpoints[], proxy: Locality, failover: Obj[]): LocalityEndpoints[] {
  const raw = localities.map((l) => {
    let p = lbPriority(proxy, l.locality);
    if (p === 3) {
      const f = failover.find((x) => x.from === proxy.region);
      if (f && l.locality.region !== f.to) p = 4;
    }
    return (l.priority ?? 0) * 5 + p;
  });
  return compact(localities, raw);
}

/** Splits each locality by failoverPriority label agreement with the proxy (Istio's applyFailoverPriorityPerLocality). */
function failoverPriorities(
  localities: readonly LocalityEndpoints[],
  proxyLabels: Readonly<Record<string, string>>,
  priorities: readonly string[],
): LocalityEndpoints[] {
  if (Object.keys(proxyLabels).length === 0) return [...localities];
  const names = priorities.map((p) => p.split("=")[0]!);
  const overrides = new Map(priorities.filter((p) => p.includes("=")).map((p) => [p.split("=")[0]!, p.split("=")[1] ?? ""]));
  const includesNetwork = names[0] === "topology.istio.io/network";
  const out: { l: LocalityEndpoints; p: number }[] = [];
  for (const l of localities) {
    const byPriority = new Map<number, LbEndpoint[]>();
    for (const e of l.endpoints) {
      let priority = 0;
      let adjust = 0;
      for (const [j, name] of names.entries()) {
        const want = overrides.get(name) ?? proxyLabels[name];
        if (want !== (e.labels ?? {})[name]) {
          if (j === 0 && includesNetwork) {
            adjust = names.length;
            continue;
          }
          priority = names.length - j;
          break;
        }
      }
      const p = priority + adjust;
      byPriority.set(p, [...(byPriority.get(p) ?? []), e]);
    }
    for (const [p, endpoints] of [...byPriority].sort(([a], [b]) => a - b))
      out.push({ l: { ...l, endpoints, weight: endpoints.reduce((s, e) => s + e.weight, 0) }, p });
  }
  return compact(
    out.map((x) => x.l),
    out.map((x) => x.p),
  );
}

/** Renumbers the raw priorities to 0..n-1 keeping their order. */
function compact(localities: readonly LocalityEndpoints[], raw: readonly number[]): LocalityEndpoints[] {
  const levels = [...new Set(raw)].sort((a, b) => a - b);
  return localities.map((l, i) => {
    const p = levels.indexOf(raw[i]!);
    const { priority: _old, ...rest } = l;
    return p > 0 ? { ...rest, priority: p } : rest;
  });
}
