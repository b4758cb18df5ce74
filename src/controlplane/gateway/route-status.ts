/**
 * HTTPRoute / GRPCRoute `status.parents` as istiod writes them for mesh routes, a pure function
 * of the route, the store and the previous status:
 *
 * - Which parents are ours: parentRefs of kind Service (GAMMA) and of kind Gateway naming a
 *   Gateway of a waypoint class. Entries other controllers wrote are kept where they are.
 * - Accepted: a Service parent that does not exist is `NoMatchingParent` (`parent service: "x"
 *   not found`), as is a `port` / `sectionName` the Service does not have. A waypoint Gateway
 *   parent is `NotAllowedByListeners`: istiod gives a waypoint's HBONE listener no
 *   supportedKinds and does not turn such routes into configuration; weft does the same (the
 *   route must attach to the Service).
 * - ResolvedRefs (the same for every parent, the first problem wins): a backendRef of another
 *   kind is `InvalidKind`, one in another namespace without a ReferenceGrant `RefNotPermitted`,
 *   a missing Service or port `BackendNotFound`.
 * - ResolvedWaypoints (Istio's own condition, always True): its message says when neither the
 *   Service nor its namespace carry `istio.io/use-waypoint`, so the route is not respected.
 * - Our entries keep their index; new ones are appended in a stable order; entries for
 *   parentRefs that were removed are dropped; conditions carry observedGeneration and keep
 *   lastTransitionTime while their status holds.
 */
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import type { ReadStore } from "../model/store.js";
import { USE_WAYPOINT } from "../translate/mesh-labels.js";
import { referenceGranted } from "../translate/routes/context.js";
import { objs } from "../translate/routes/names.js";
import { GATEWAY_KIND } from "../translate/waypoint.js";
import { type WantedCondition, conditions, sameJson } from "./conditions.js";
import { GATEWAY_CONTROLLER } from "./labels.js";

type Obj = Record<string, unknown>;

export interface RouteStatusInput {
  readonly route: KubeObject;
  readonly store: ReadStore;
  readonly clusterDomain: string;
  readonly waypointClasses: readonly string[];
  readonly now: string;
}

const GW_GROUP = "gateway.networking.k8s.io";

type ParentVerdict = { readonly accepted: WantedCondition; readonly waypoints: string };

function waypointConfigured(labels: Readonly<Record<string, string>> | undefined): boolean {
  const v = labels?.[USE_WAYPOINT];
  return v !== undefined && v !== "" && v.toLowerCase() !== "none";
}

const accepted = (message = "Route was valid"): WantedCondition => ({ type: "Accepted", status: "True", reason: "Accepted", message });
const denied = (reason: string, message: string): WantedCondition => ({ type: "Accepted", status: "False", reason, message });

/** Our verdict on one parentRef, or undefined when it is not ours to report. */
function parentVerdict(p: Obj, routeNs: string, kind: string, input: RouteStatusInput): ParentVerdict | undefined {
  const group = typeof p.group === "string" ? p.group : GW_GROUP;
  const pkind = typeof p.kind === "string" ? p.kind : "Gateway";
  const ns = typeof p.namespace === "string" ? p.namespace : routeNs;
  const name = String(p.name ?? "");
  if (pkind === "Service" && (group === "" || group === "core")) {
    const svc = input.store.get(`/Service/${ns}/${name}`);
    if (!svc)
      return { accepted: denied("NoMatchingParent", `parent service: ${JSON.stringify(name)} not found`), waypoints: "parent not found" };
    const ports = (isPlainObject(svc.spec) ? objs(svc.spec.ports) : []).filter((sp) => (sp.protocol ?? "TCP") === "TCP");
    const nsObj = input.store.get(`/Namespace//${ns}`);
    const waypoints =
      waypointConfigured(svc.metadata.labels) || waypointConfigured(nsObj?.metadata.labels)
        ? "All waypoints resolved"
        : "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected";
    if (typeof p.port === "number" && !ports.some((sp) => sp.port === p.port))
      return { accepted: denied("NoMatchingParent", `port ${String(p.port)} not found`), waypoints };
    if (typeof p.sectionName === "string" && !ports.some((sp) => sp.name === p.sectionName))
      return { accepted: denied("NoMatchingParent", `sectionName ${JSON.stringify(p.sectionName)} not found`), waypoints };
    return { accepted: accepted(), waypoints };
  }
  if (pkind === "Gateway" && group === GW_GROUP) {
    const gw = input.store.get(`${GATEWAY_KIND}/${ns}/${name}`);
    const cls = gw && isPlainObject(gw.spec) ? gw.spec.gatewayClassName : undefined;
    if (typeof cls !== "string" || !input.waypointClasses.includes(cls)) return undefined;
    return {
      accepted: denied(
        "NotAllowedByListeners",
        `kind ${kind} is not allowed: the waypoint Gateway ${ns}/${name} takes no routes (Istio); attach the route to a Service (parentRefs kind Service)`,
      ),
      waypoints: "All waypoints resolved",
    };
  }
  return undefined;
}

/** The route's ResolvedRefs condition: the first backendRef problem, else resolved. */
export function resolvedRefs(route: KubeObject, kind: string, store: ReadStore, clusterDomain: string): WantedCondition {
  const routeNs = route.metadata.namespace ?? "";
  const spec = isPlainObject(route.spec) ? route.spec : {};
  const fail = (reason: string, message: string): WantedCondition => ({ type: "ResolvedRefs", status: "False", reason, message });
  for (const rule of objs(spec.rules)) {
    for (const b of objs(rule.backendRefs)) {
      const group = typeof b.group === "string" ? b.group : "";
      const bkind = typeof b.kind === "string" ? b.kind : "Service";
      const ns = typeof b.namespace === "string" ? b.namespace : routeNs;
      const name = String(b.name ?? "");
      if ((group !== "" && group !== "core") || bkind !== "Service")
        return fail("InvalidKind", `referencing unsupported backendRef: group ${JSON.stringify(group)} kind ${JSON.stringify(bkind)}`);
      if (!referenceGranted(store, kind, routeNs, ns, name))
        return fail(
          "RefNotPermitted",
          `backendRef ${name}/${ns} not accessible to a ${kind} in namespace ${JSON.stringify(routeNs)} (missing a ReferenceGrant?)`,
        );
      const host = `${name}.${ns}.svc.${clusterDomain}`;
      const svc = store.get(`/Service/${ns}/${name}`);
      if (!svc) return fail("BackendNotFound", `backend(${host}) not found`);
      if (typeof b.port !== "number") return fail("BackendNotFound", `backend(${host}): port is required`);
      const ports = isPlainObject(svc.spec) ? objs(svc.spec.ports) : [];
      if (!ports.some((sp) => sp.port === b.port)) return fail("BackendNotFound", `backend(${host}) has no port ${String(b.port)}`);
    }
  }
  return { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs", message: "All references resolved" };
}

function refKey(p: unknown, routeNs: string): string {
  const o = isPlainObject(p) ? p : {};
  const group = typeof o.group === "string" ? o.group : GW_GROUP;
  const kind = typeof o.kind === "string" ? o.kind : "Gateway";
  return [group, kind, typeof o.namespace === "string" ? o.namespace : routeNs, o.name, o.sectionName ?? "", o.port ?? ""].join("/");
}

/** The route's new `status.parents` (ours recomputed, others' kept). */
export function routeParents(input: RouteStatusInput): Obj[] {
  const r = input.route;
  const routeNs = r.metadata.namespace ?? "";
  const kind = r.kind;
  const spec = isPlainObject(r.spec) ? r.spec : {};
  const prevParents = isPlainObject(r.status) ? objs(r.status.parents) : [];
  const ours = new Map<string, { ref: Obj; verdict: ParentVerdict }>();
  for (const p of objs(spec.parentRefs)) {
    const v = parentVerdict(p, routeNs, kind, input);
    if (v) ours.set(refKey(p, routeNs), { ref: p, verdict: v });
  }
  const refs = resolvedRefs(r, kind, input.store, input.clusterDomain);
  const acceptedCount = [...ours.values()].filter((o) => o.verdict.accepted.status === "True").length;
  const entry = (key: string): Obj => {
    const { ref, verdict } = ours.get(key)!;
    const prev = prevParents.find((e) => e.controllerName === GATEWAY_CONTROLLER && refKey(e.parentRef, routeNs) === key);
    const acc =
      verdict.accepted.status === "True" && acceptedCount > 1
        ? accepted(`Route was valid, bound to ${acceptedCount} parents`)
        : verdict.accepted;
    const wanted = [
      acc,
      refs,
      { type: "ResolvedWaypoints", status: "True" as const, reason: "ResolvedWaypoints", message: verdict.waypoints },
    ];
    return {
      parentRef: ref,
      controllerName: GATEWAY_CONTROLLER,
      conditions: conditions(wanted, prev?.conditions, r.metadata.generation, input.now),
    };
  };
  const out: Obj[] = [];
  const placed = new Set<string>();
  for (const e of prevParents) {
    if (e.controllerName !== GATEWAY_CONTROLLER) out.push(e);
    else {
      const key = refKey(e.parentRef, routeNs);
      if (ours.has(key) && !placed.has(key)) {
        out.push(entry(key));
        placed.add(key);
      }
    }
  }
  for (const key of [...ours.keys()].filter((k) => !placed.has(k)).sort()) out.push(entry(key));
  return out;
}

/** Whether the route needs a status write: our entries differ from what it holds. */
export function routeStatusChanged(route: KubeObject, parents: readonly Obj[]): boolean {
  const prev = isPlainObject(route.status) ? objs(route.status.parents) : [];
  return !sameJson(prev, parents);
}
