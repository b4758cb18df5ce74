/**
 * Gateway API GRPCRoute rules attached to a Service port -> Envoy routes, one per match, ranked
 * (precedence.ts). A gRPC method is the HTTP/2 path `/<service>/<method>` (gRPC over HTTP2
 * spec), so method matches become path matches, as Istio and Envoy Gateway do:
 *
 * - Exact service+method -> `path /S/M`; service only -> `prefix /S/`; method only ->
 *   `safe_regex /[^/]+/M`; RegularExpression -> `safe_regex /(S|[^/]+)/(M|[^/]+)`.
 * - headers (Exact/RegularExpression) -> HeaderMatcher; a rule without matches matches all.
 * - filters: the header modifiers and RequestMirror (gateway-rule.ts); backendRefs likewise.
 */
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { HeaderMatcher, Route, RouteMatch } from "./envoy-types.js";
import type { RouteContext } from "./context.js";
import type { GrpcMatchView, RankedRoute } from "./precedence.js";
import { type FilterEffects, backendAction, sharedFilter, withEffects } from "./gateway-rule.js";
import { DEFAULT_RETRY_POLICY, timeoutFields } from "./resilience.js";
import { routeName, objs, escapeRegex } from "./names.js";

type Obj = Record<string, unknown>;

/** The Envoy match of one GRPCRoute match. */
export function grpcMatch(m: Obj): RouteMatch {
  const method = isPlainObject(m.method) ? m.method : undefined;
  const headers: HeaderMatcher[] = objs(m.headers).map((h) => ({
    name: String(h.name).toLowerCase(),
    stringMatch: h.type === "RegularExpression" ? { safeRegex: { regex: String(h.value) } } : { exact: String(h.value) },
  }));
  const extra = headers.length ? { headers } : {};
  if (!method) return { prefix: "/", ...extra };
  const s = typeof method.service === "string" ? method.service : undefined;
  const mm = typeof method.method === "string" ? method.method : undefined;
  if (method.type === "RegularExpression") return { safeRegex: { regex: `/${s ?? "[^/]+"}/${mm ?? "[^/]+"}` }, ...extra };
  if (s && mm) return { path: `/${s}/${mm}`, ...extra };
  if (s) return { prefix: `/${s}/`, ...extra };
  return { safeRegex: { regex: `/[^/]+/${escapeRegex(mm ?? "")}` }, ...extra };
}

export function translateGrpcRoute(route: KubeObject, ctx: RouteContext): RankedRoute<GrpcMatchView>[] {
  const spec = isPlainObject(route.spec) ? route.spec : {};
  const out: RankedRoute<GrpcMatchView>[] = [];
  for (const [ri, rule] of objs(spec.rules).entries()) {
    const rpath = `spec.rules[${ri}]`;
    const matches = objs(rule.matches);
    const list = matches.length ? matches : [{}];
    const fx: FilterEffects = {};
    for (const [fi, f] of objs(rule.filters).entries()) sharedFilter(route, "GRPCRoute", f, `${rpath}.filters[${fi}]`, ctx, fx);
    const backend = backendAction(route, "GRPCRoute", rule, rpath, ctx);
    for (const [mi, m] of list.entries()) {
      const method = isPlainObject(m.method) ? m.method : {};
      const name = routeName("GRPCRoute", route, ri, mi, list.length);
      const match = grpcMatch(m);
      // GRPCRoute has no timeouts or retry: Istio's defaults (no timeout, the default retry policy).
      const r: Route = backend.route
        ? { name, match, route: { ...backend.route, ...timeoutFields(undefined), retryPolicy: DEFAULT_RETRY_POLICY } }
        : { name, match, directResponse: backend.directResponse ?? { status: 500 } };
      out.push({
        route,
        rule: ri,
        match: mi,
        value: {
          service: typeof method.service === "string" ? method.service : "",
          method: typeof method.method === "string" ? method.method : "",
          headers: objs(m.headers).length,
        },
        envoy: withEffects(r, fx),
      });
    }
  }
  return out;
}
