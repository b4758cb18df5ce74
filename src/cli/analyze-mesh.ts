/**
 * Mesh-level findings of `weft analyze` over plain Kubernetes / Istio / Gateway API objects
 * (each already valid on its own). Written against the object shapes, so they work on any YAML:
 * - UseWaypointNotFound: `istio.io/use-waypoint` on a Namespace, Service, Pod or workload
 *   template names no Gateway of class istio-waypoint (namespace from
 *   `istio.io/use-waypoint-namespace`, else the object's own);
 * - PolicySelectsNothing: an AuthorizationPolicy/PeerAuthentication `selector.matchLabels`
 *   that no pod (or pod template) of its namespace carries (root namespace: any namespace);
 *   a `targetRefs` entry naming a missing Gateway or Service;
 * - ReferencedResourceNotFound: an HTTPRoute/GRPCRoute backendRef or parentRef (kind Service)
 *   naming a missing Service; a VirtualService destination host that is no Service or
 *   ServiceEntry host;
 * - ConflictingRoutes: a VirtualService and an HTTPRoute both route one service (Istio applies
 *   only one of them; which one is not defined). Pure.
 */
import type { KubeObject } from "../kube/object.js";

export interface Finding {
  readonly level: "Error" | "Warning";
  readonly code: string;
  /** `Kind namespace/name`. */
  readonly object: string;
  readonly field: string;
  readonly message: string;
  /** `file:line (document n)`; empty for objects read from a cluster. */
  readonly origin: string;
}

export interface Located {
  readonly object: KubeObject;
  readonly origin: string;
}

export interface MeshSettings {
  readonly rootNamespace: string;
  readonly clusterDomain: string;
}

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

const USE_WAYPOINT = "istio.io/use-waypoint";
const USE_WAYPOINT_NS = "istio.io/use-waypoint-namespace";
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]);

function label(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
}

function podTemplateLabels(o: KubeObject): Record<string, string> | undefined {
  const spec = rec((o as unknown as Obj).spec);
  const tmpl = o.kind === "CronJob" ? rec(rec(rec(spec.jobTemplate).spec).template) : rec(spec.template);
  return rec(rec(tmpl.metadata).labels) as Record<string, string>;
}

/** Label sets of every pod and pod template, with their namespace. */
function podLabelSets(objs: readonly Located[]): Array<{ namespace: string; labels: Record<string, string> }> {
  const out: Array<{ namespace: string; labels: Record<string, string> }> = [];
  for (const { object: o } of objs) {
    const namespace = o.metadata.namespace ?? "default";
    if (o.kind === "Pod") out.push({ namespace, labels: (o.metadata.labels ?? {}) as Record<string, string> });
    else if (WORKLOAD_KINDS.has(o.kind)) out.push({ namespace, labels: podTemplateLabels(o) ?? {} });
  }
  return out;
}

/** The namespace/name of a service a host names: `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.<domain>`. */
export function serviceOfHost(host: string, namespace: string, clusterDomain: string): string | undefined {
  const parts = host.split(".");
  if (parts.length === 1) return `${namespace}/${host}`;
  if (parts.length === 2) return `${parts[1]}/${parts[0]}`;
  if (parts[2] === "svc" && (parts.length === 3 || parts.slice(3).join(".") === clusterDomain)) return `${parts[1]}/${parts[0]}`;
  return undefined;
}

export function analyzeMesh(objs: readonly Located[], s: MeshSettings): Finding[] {
  const out: Finding[] = [];
  const byKind = (kind: string) => objs.filter((x) => x.object.kind === kind);
  const key = (o: KubeObject) => `${o.metadata.namespace ?? "default"}/${o.metadata.name}`;
  const services = new Set(byKind("Service").map((x) => key(x.object)));
  const gateways = new Map(byKind("Gateway").map((x) => [key(x.object), x.object]));
  const waypoints = new Set(
    [...gateways].filter(([, g]) => str(rec((g as unknown as Obj).spec).gatewayClassName) === "istio-waypoint").map(([k]) => k),
  );
  const seHosts = new Set(byKind("ServiceEntry").flatMap((x) => arr(rec((x.object as unknown as Obj).spec).hosts).map(String)));
  const pods = podLabelSets(objs);
  const add = (x: Located, level: Finding["level"], code: string, field: string, message: string) =>
    out.push({ level, code, object: label(x.object), field, message, origin: x.origin });

  // use-waypoint labels
  for (const x of objs) {
    const o = x.object;
    const sources: Array<[Record<string, string>, string]> = [[(o.metadata.labels ?? {}) as Record<string, string>, "metadata.labels"]];
    if (WORKLOAD_KINDS.has(o.kind)) sources.push([podTemplateLabels(o) ?? {}, "spec.template.metadata.labels"]);
    for (const [labels, field] of sources) {
      const wp = labels[USE_WAYPOINT];
      if (!wp || wp === "none") continue;
      const ns = labels[USE_WAYPOINT_NS] ?? (o.kind === "Namespace" ? o.metadata.name : (o.metadata.namespace ?? "default"));
      if (waypoints.has(`${ns}/${wp}`)) continue;
      const why = gateways.has(`${ns}/${wp}`) ? `Gateway ${ns}/${wp} is not of class istio-waypoint` : `no waypoint Gateway ${ns}/${wp}`;
      add(x, "Error", "UseWaypointNotFound", `${field}["${USE_WAYPOINT}"]`, `${why}: traffic to it will not reach a waypoint`);
    }
  }

  // policies that select nothing
  for (const x of [...byKind("AuthorizationPolicy"), ...byKind("PeerAuthentication")]) {
    const o = x.object;
    const spec = rec((o as unknown as Obj).spec);
    const ns = o.metadata.namespace ?? "default";
    const match = rec(rec(spec.selector).matchLabels) as Record<string, string>;
    if (Object.keys(match).length) {
      const hit = pods.some(
        (p) => (ns === s.rootNamespace || p.namespace === ns) && Object.entries(match).every(([k, v]) => p.labels[k] === v),
      );
      if (!hit)
        add(
          x,
          "Warning",
          "PolicySelectsNothing",
          "spec.selector.matchLabels",
          `no pod in ${ns === s.rootNamespace ? "the mesh" : `namespace ${ns}`} has labels ${JSON.stringify(match)}`,
        );
    }
    arr(spec.targetRefs).forEach((r, i) => {
      const ref = rec(r);
      const kind = str(ref.kind);
      const name = str(ref.name) ?? "";
      const target = `${ns}/${name}`;
      const missing = kind === "Service" ? !services.has(target) : kind === "Gateway" ? !gateways.has(target) : false;
      if (missing)
        add(
          x,
          "Error",
          "ReferencedResourceNotFound",
          `spec.targetRefs[${i}]`,
          `${kind} ${target} does not exist: the policy applies to nothing`,
        );
    });
  }

  // Gateway API routes
  const routed = new Map<string, Located[]>();
  for (const x of [...byKind("HTTPRoute"), ...byKind("GRPCRoute"), ...byKind("TCPRoute")]) {
    const o = x.object;
    const spec = rec((o as unknown as Obj).spec);
    const ns = o.metadata.namespace ?? "default";
    arr(spec.parentRefs).forEach((r, i) => {
      const ref = rec(r);
      if (str(ref.kind) !== "Service") return;
      const target = `${str(ref.namespace) ?? ns}/${str(ref.name) ?? ""}`;
      if (!services.has(target)) add(x, "Error", "ReferencedResourceNotFound", `spec.parentRefs[${i}]`, `Service ${target} does not exist`);
      else routed.set(target, [...(routed.get(target) ?? []), x]);
    });
    arr(spec.rules).forEach((rule, i) =>
      arr(rec(rule).backendRefs).forEach((b, j) => {
        const ref = rec(b);
        const kind = str(ref.kind) ?? "Service";
        if (kind !== "Service" || (str(ref.group) ?? "") !== "") return;
        const target = `${str(ref.namespace) ?? ns}/${str(ref.name) ?? ""}`;
        if (!services.has(target))
          add(
            x,
            "Error",
            "ReferencedResourceNotFound",
            `spec.rules[${i}].backendRefs[${j}]`,
            `backend Service ${target} does not exist: requests get 500`,
          );
      }),
    );
  }

  // VirtualServices
  for (const x of byKind("VirtualService")) {
    const o = x.object;
    const spec = rec((o as unknown as Obj).spec);
    const ns = o.metadata.namespace ?? "default";
    for (const kind of ["http", "tcp", "tls"] as const)
      arr(spec[kind]).forEach((route, i) =>
        arr(rec(route).route).forEach((d, j) => {
          const host = str(rec(rec(d).destination).host);
          if (!host || seHosts.has(host)) return;
          const svc = serviceOfHost(host, ns, s.clusterDomain);
          if (!svc || !services.has(svc))
            add(
              x,
              "Error",
              "ReferencedResourceNotFound",
              `spec.${kind}[${i}].route[${j}].destination.host`,
              `${host} is no Service or ServiceEntry host`,
            );
        }),
      );
    arr(spec.hosts).forEach((h, i) => {
      const svc = serviceOfHost(String(h), ns, s.clusterDomain);
      const routes = svc ? routed.get(svc) : undefined;
      if (routes?.length)
        add(
          x,
          "Warning",
          "ConflictingRoutes",
          `spec.hosts[${i}]`,
          `Service ${svc} is also routed by ${routes.map((r) => `${label(r.object)} (${r.origin})`).join(", ")}: use one kind of route per service`,
        );
    });
  }
  return out.sort((a, b) => a.origin.localeCompare(b.origin) || a.field.localeCompare(b.field));
}

export function formatFinding(f: Finding): string {
  return `${f.level} [${f.code}] (${f.object})${f.origin ? ` ${f.origin}` : ""}: ${f.field}: ${f.message}`;
}
