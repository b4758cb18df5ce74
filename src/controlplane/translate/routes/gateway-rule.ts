/**
 * What HTTPRoute and GRPCRoute rules share: parentRef attachment to a Service port, backendRefs
 * to a weighted cluster action, and the filters both kinds have (request/response header
 * modifiers, request mirror). Semantics from the Gateway API spec:
 *
 * - parentRef `{group: "" | "core", kind: Service, name, namespace?, port?, sectionName?}`; a
 *   port (or sectionName = the Service port's name) narrows attachment to that port.
 * - backendRefs: kind Service (group ""), `port` required; a cross-namespace backend needs a
 *   ReferenceGrant. An invalid backend keeps its share of the weight and answers 500 (spec:
 *   "requests that would have been sent to that backend MUST receive a 500"); weight 0 entries are
 *   dropped; no backendRefs at all route to the parent Service (GAMMA: the Service's own backend).
 * - header modifiers: `set` overwrites, `add` appends, `remove` removes (Envoy
 *   OVERWRITE_IF_EXISTS_OR_ADD / APPEND_IF_EXISTS_OR_ADD / *_headers_to_remove).
 * - RequestMirror: `percent` or `fraction` -> runtime_fraction (default 100%).
 */
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { FractionalPercent, HeaderValueOption, Route, RouteAction } from "./envoy-types.js";
import type { RouteContext } from "./context.js";
import { SERVICE_ENTRY_GROUP } from "./serviceentry-hosts.js";
import { objs } from "./names.js";

type Obj = Record<string, unknown>;

/** Cluster name no waypoint is ever sent: Envoy answers cluster_not_found_response_code (500 here). */
export const INVALID_BACKEND_CLUSTER = "invalid-backend|";

/** Whether one of the route's parentRefs attaches it to the context's target port. */
export function attachesTo(route: KubeObject, ctx: RouteContext): boolean {
  const spec = isPlainObject(route.spec) ? route.spec : {};
  const routeNs = route.metadata.namespace ?? "";
  return objs(spec.parentRefs).some((p) => {
    const group = p.group ?? "gateway.networking.k8s.io";
    // A ServiceEntry host takes routes whose parentRef is its entry (Istio: kind ServiceEntry, group networking.istio.io).
    if (
      ctx.target.registry === "External"
        ? p.kind !== "ServiceEntry" || group !== SERVICE_ENTRY_GROUP
        : p.kind !== "Service" || (group !== "" && group !== "core")
    )
      return false;
    if ((p.namespace ?? routeNs) !== ctx.target.namespace || p.name !== ctx.target.service) return false;
    if (typeof p.port === "number" && p.port !== ctx.target.port) return false;
    if (typeof p.sectionName === "string" && p.sectionName !== ctx.target.portName) return false;
    return true;
  });
}

/** The route action for a rule's backendRefs, or a direct 500 when every backend is invalid. */
export function backendAction(
  route: KubeObject,
  kind: string,
  rule: Obj,
  path: string,
  ctx: RouteContext,
): Pick<Route, "route" | "directResponse"> {
  const refs = objs(rule.backendRefs);
  if (refs.length === 0) {
    const own = ctx.targetCluster();
    return own ? { route: { cluster: own } } : { directResponse: { status: 500 } };
  }
  const routeNs = route.metadata.namespace ?? "";
  const clusters: { name: string; weight: { value: number } }[] = [];
  let invalid = 0;
  for (const [i, b] of refs.entries()) {
    const weight = typeof b.weight === "number" ? b.weight : 1;
    if (weight === 0) continue;
    const field = `${path}.backendRefs[${i}]`;
    const group = typeof b.group === "string" ? b.group : "";
    const k = typeof b.kind === "string" ? b.kind : "Service";
    const ns = typeof b.namespace === "string" ? b.namespace : routeNs;
    const name = String(b.name);
    let cluster: string | undefined;
    if (group === SERVICE_ENTRY_GROUP && k === "Hostname") {
      // Istio's backend kind Hostname: a ServiceEntry host (port required).
      const r = typeof b.port === "number" ? ctx.externalCluster(name, b.port, "", routeNs) : { reason: "a Hostname backend needs a port" };
      if ("cluster" in r) cluster = r.cluster;
      else ctx.warn(route, field, `${r.reason}: requests to it get 500`);
    } else if (group !== "" || k !== "Service")
      ctx.warn(route, field, `unsupported backend kind ${group ? `${group}/` : ""}${k}: requests to it get 500`);
    else if (typeof b.port !== "number") ctx.warn(route, `${field}.port`, "required for a Service backend: requests to it get 500");
    else if (!ctx.referenceGranted(kind, routeNs, ns, name))
      ctx.warn(route, `${field}.namespace`, `no ReferenceGrant in namespace ${ns} allows ${kind}s from ${routeNs}: requests to it get 500`);
    else {
      const svc = ctx.service(ns, name);
      if (!svc) ctx.warn(route, field, `Service ${ns}/${name} not found: requests to it get 500`);
      else if (!ctx.hasPort(svc, b.port))
        ctx.warn(route, `${field}.port`, `Service ${ns}/${name} has no port ${b.port}: requests to it get 500`);
      else cluster = ctx.cluster(svc, b.port);
    }
    if (objs(b.filters).length > 0) ctx.warn(route, `${field}.filters`, "per-backend filters are not supported yet and are ignored");
    if (!cluster) invalid++;
    clusters.push({ name: cluster ?? `${INVALID_BACKEND_CLUSTER}${ns}/${name}`, weight: { value: weight } });
  }
  if (clusters.length === 0 || invalid === clusters.length) return { directResponse: { status: 500 } };
  const action: RouteAction = clusters.length === 1 ? { cluster: clusters[0]!.name } : { weightedClusters: { clusters } };
  return { route: invalid > 0 ? { ...action, clusterNotFoundResponseCode: "INTERNAL_SERVER_ERROR" } : action };
}

function headerOps(m: Obj): { add: HeaderValueOption[]; remove: string[] } {
  const add: HeaderValueOption[] = [];
  for (const h of objs(m.set))
    add.push({ header: { key: String(h.name).toLowerCase(), value: String(h.value) }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" });
  for (const h of objs(m.add))
    add.push({ header: { key: String(h.name).toLowerCase(), value: String(h.value) }, appendAction: "APPEND_IF_EXISTS_OR_ADD" });
  const remove = (Array.isArray(m.remove) ? m.remove : []).map((n) => String(n).toLowerCase());
  return { add, remove };
}

/** The part of an Envoy route the shared filters produce. */
export interface FilterEffects {
  requestHeadersToAdd?: HeaderValueOption[];
  requestHeadersToRemove?: string[];
  responseHeadersToAdd?: HeaderValueOption[];
  responseHeadersToRemove?: string[];
  requestMirrorPolicies?: { cluster: string; runtimeFraction?: { defaultValue: FractionalPercent } }[];
  /** ExtensionRef (or another filter weft cannot apply): Gateway API wants such a rule to answer 500. */
  unsupported?: boolean;
}

/** Applies the filters both route kinds have; returns false for a type this module does not handle. */
export function sharedFilter(route: KubeObject, kind: string, f: Obj, field: string, ctx: RouteContext, out: FilterEffects): boolean {
  switch (f.type) {
    case "RequestHeaderModifier": {
      const ops = headerOps(isPlainObject(f.requestHeaderModifier) ? f.requestHeaderModifier : {});
      if (ops.add.length) out.requestHeadersToAdd = [...(out.requestHeadersToAdd ?? []), ...ops.add];
      if (ops.remove.length) out.requestHeadersToRemove = [...(out.requestHeadersToRemove ?? []), ...ops.remove];
      return true;
    }
    case "ResponseHeaderModifier": {
      const ops = headerOps(isPlainObject(f.responseHeaderModifier) ? f.responseHeaderModifier : {});
      if (ops.add.length) out.responseHeadersToAdd = [...(out.responseHeadersToAdd ?? []), ...ops.add];
      if (ops.remove.length) out.responseHeadersToRemove = [...(out.responseHeadersToRemove ?? []), ...ops.remove];
      return true;
    }
    case "RequestMirror": {
      const m = isPlainObject(f.requestMirror) ? f.requestMirror : {};
      const b = isPlainObject(m.backendRef) ? m.backendRef : {};
      const ns = typeof b.namespace === "string" ? b.namespace : (route.metadata.namespace ?? "");
      const name = String(b.name);
      const svc = ctx.referenceGranted(kind, route.metadata.namespace ?? "", ns, name) ? ctx.service(ns, name) : undefined;
      if (!svc || typeof b.port !== "number" || !ctx.hasPort(svc, b.port)) {
        ctx.warn(
          route,
          `${field}.requestMirror.backendRef`,
          `mirror backend ${ns}/${name}:${String(b.port)} is not a Service port this route may use: not mirrored`,
        );
        return true;
      }
      const frac = isPlainObject(m.fraction) ? m.fraction : undefined;
      let fraction: FractionalPercent | undefined;
      if (typeof m.percent === "number") fraction = { numerator: m.percent, denominator: "HUNDRED" };
      else if (frac)
        fraction = {
          numerator: Math.round((Number(frac.numerator) * 1_000_000) / Number(frac.denominator ?? 100)),
          denominator: "MILLION",
        };
      out.requestMirrorPolicies = [
        ...(out.requestMirrorPolicies ?? []),
        {
          cluster: ctx.cluster(svc, b.port),
          ...(fraction && !(fraction.denominator === "HUNDRED" && fraction.numerator === 100)
            ? { runtimeFraction: { defaultValue: fraction } }
            : {}),
        },
      ];
      return true;
    }
    case "ExtensionRef":
      ctx.warn(route, field, "ExtensionRef filters are not supported: the rule answers 500 (Gateway API)");
      out.unsupported = true;
      return true;
    case "CORS":
      ctx.warn(route, field, "CORS filters are not supported yet and are ignored");
      return true;
    default:
      return false;
  }
}

/** Copies filter effects onto an Envoy route (mirrors go into its route action). */
export function withEffects(base: Route, fx: FilterEffects): Route {
  if (fx.unsupported) return { name: base.name, match: base.match, directResponse: { status: 500 } };
  const route = base.route && fx.requestMirrorPolicies ? { ...base.route, requestMirrorPolicies: fx.requestMirrorPolicies } : base.route;
  return {
    ...base,
    ...(route ? { route } : {}),
    ...(fx.requestHeadersToAdd ? { requestHeadersToAdd: fx.requestHeadersToAdd } : {}),
    ...(fx.requestHeadersToRemove ? { requestHeadersToRemove: fx.requestHeadersToRemove } : {}),
    ...(fx.responseHeadersToAdd ? { responseHeadersToAdd: fx.responseHeadersToAdd } : {}),
    ...(fx.responseHeadersToRemove ? { responseHeadersToRemove: fx.responseHeadersToRemove } : {}),
  };
}
