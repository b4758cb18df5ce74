/**
 * Istio VirtualService `http` rules -> Envoy routes, in the VirtualService's own order (Istio:
 * "rules are evaluated in order; the first match wins"; no default route is appended, so an
 * unmatched request gets 404 as in Istio). Semantics from istio/api networking/v1alpha3:
 *
 * - A VirtualService applies to a service when one of its `hosts` (short names resolved in the
 *   VirtualService's namespace) is, or covers, the service hostname, `gateways` is empty or
 *   names `mesh`, and `exportTo` includes the waypoint's namespace (default `*`). Of several, the oldest applies (Istio merges only for gateways) and the others
 *   are reported.
 * - match (one Envoy route per match; all fields of one match AND): uri exact/prefix/regex ->
 *   path/prefix/safe_regex (ignoreUriCase -> case_sensitive false); headers, withoutHeaders
 *   (invert_match); queryParams (exact, regex); method, authority, scheme -> `:method`,
 *   `:authority`, `:scheme` matchers; `port` -> the match applies only on that service port;
 *   `sourceLabels`, `gateways`, `sourceNamespace` describe the client proxy, which at a waypoint
 *   is the waypoint itself (Istio compares them to the waypoint's own labels/namespace): a match
 *   they exclude is left out, with a warning for sourceLabels.
 * - route[].destination {host, subset, port} -> `outbound|port|subset|host`, weights ->
 *   weighted_clusters; the port defaults to the service's only port, else the listener's port.
 * - rewrite {uri (the matched prefix, or the whole path), uriRegexRewrite, authority}; redirect
 *   {uri, authority, port, scheme, redirectCode (default 301)}; directResponse; headers
 *   {request,response}{set,add,remove} (rule level, and a single destination's); mirror /
 *   mirrors with mirrorPercentage (default 100%); timeout, retries and fault (resilience.ts:
 *   Istio's default retry policy when `retries` is absent). corsPolicy and delegate are reported
 *   as not supported and ignored.
 */
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type {
  FractionalPercent,
  HeaderMatcher,
  HeaderValueOption,
  QueryParameterMatcher,
  RedirectAction,
  Route,
  RouteAction,
  RouteMatch,
  StringMatcher,
} from "./envoy-types.js";
import type { RouteContext } from "./context.js";
import { FAULT_FILTER, faultConfig, retryPolicy, timeoutFields } from "./resilience.js";
import { exportedTo, hostMatches, parseDuration, resolveHost, routeName, objs, REDIRECT_CODES } from "./names.js";

type Obj = Record<string, unknown>;

/**
 * Whether a VirtualService is for the service at a waypoint of `waypointNamespace`: hosts,
 * gateways, and exportTo (Istio: a config is used by the proxies it is exported to).
 */
export function virtualServiceApplies(vs: KubeObject, hostname: string, clusterDomain: string, waypointNamespace?: string): boolean {
  const spec = isPlainObject(vs.spec) ? vs.spec : {};
  const gateways = Array.isArray(spec.gateways) ? spec.gateways : [];
  if (gateways.length > 0 && !gateways.includes("mesh")) return false;
  if (waypointNamespace !== undefined && !exportedTo(vs, waypointNamespace)) return false;
  const ns = vs.metadata.namespace ?? "";
  return (Array.isArray(spec.hosts) ? spec.hosts : []).some(
    (h) => typeof h === "string" && hostMatches(resolveHost(h, ns, clusterDomain), hostname),
  );
}

function stringMatcher(m: Obj): StringMatcher {
  if (typeof m.exact === "string") return { exact: m.exact };
  if (typeof m.prefix === "string") return { prefix: m.prefix };
  return { safeRegex: { regex: String(m.regex) } };
}

function header(name: string, m: Obj, invert = false): HeaderMatcher {
  return { name: name.toLowerCase(), stringMatch: stringMatcher(m), ...(invert ? { invertMatch: true } : {}) };
}

/** The Envoy match of one HTTPMatchRequest, or undefined if it cannot apply on this port/waypoint. */
function vsMatch(vs: KubeObject, m: Obj, field: string, ctx: RouteContext): RouteMatch | undefined {
  if (typeof m.port === "number" && m.port !== ctx.target.port) return undefined;
  if (isPlainObject(m.sourceLabels) && Object.keys(m.sourceLabels).length > 0) {
    ctx.warn(
      vs,
      `${field}.sourceLabels`,
      "sourceLabels select client sidecars; a waypoint has none, so this match never applies (as in Istio ambient)",
    );
    return undefined;
  }
  if (Array.isArray(m.gateways) && m.gateways.length > 0 && !m.gateways.includes("mesh")) return undefined;
  if (typeof m.sourceNamespace === "string" && m.sourceNamespace !== ctx.waypointNamespace) return undefined;
  const uri = isPlainObject(m.uri) ? m.uri : undefined;
  let base: RouteMatch;
  if (!uri) base = { prefix: "/" };
  else if (typeof uri.exact === "string") base = { path: uri.exact };
  else if (typeof uri.prefix === "string") base = { prefix: uri.prefix };
  else base = { safeRegex: { regex: String(uri.regex) } };
  const headers: HeaderMatcher[] = [];
  for (const [k, v] of Object.entries(isPlainObject(m.headers) ? m.headers : {})) if (isPlainObject(v)) headers.push(header(k, v));
  for (const [k, v] of Object.entries(isPlainObject(m.withoutHeaders) ? m.withoutHeaders : {}))
    if (isPlainObject(v)) headers.push(header(k, v, true));
  if (isPlainObject(m.method)) headers.push(header(":method", m.method));
  if (isPlainObject(m.authority)) headers.push(header(":authority", m.authority));
  if (isPlainObject(m.scheme)) headers.push(header(":scheme", m.scheme));
  const queryParameters: QueryParameterMatcher[] = [];
  for (const [k, v] of Object.entries(isPlainObject(m.queryParams) ? m.queryParams : {})) {
    if (isPlainObject(v)) queryParameters.push({ name: k, stringMatch: stringMatcher(v) });
  }
  return {
    ...base,
    ...(m.ignoreUriCase === true ? { caseSensitive: { value: false } } : {}),
    ...(headers.length ? { headers } : {}),
    ...(queryParameters.length ? { queryParameters } : {}),
  };
}

function headerOps(h: unknown): { add: HeaderValueOption[]; remove: string[] } {
  const o = isPlainObject(h) ? h : {};
  const add: HeaderValueOption[] = [];
  for (const [k, v] of Object.entries(isPlainObject(o.set) ? o.set : {}))
    add.push({ header: { key: k.toLowerCase(), value: String(v) }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" });
  for (const [k, v] of Object.entries(isPlainObject(o.add) ? o.add : {}))
    add.push({ header: { key: k.toLowerCase(), value: String(v) }, appendAction: "APPEND_IF_EXISTS_OR_ADD" });
  return { add, remove: (Array.isArray(o.remove) ? o.remove : []).map((x) => String(x).toLowerCase()) };
}

/** A destination as a cluster name; undefined (with a warning) when it names no Service port. */
function destinationCluster(vs: KubeObject, d: Obj, field: string, ctx: RouteContext): string | undefined {
  const host = resolveHost(String(d.host), vs.metadata.namespace ?? "", ctx.cfg.clusterDomain);
  const svc = ctx.serviceByHost(host);
  if (!svc) {
    // A ServiceEntry host (egress through a waypoint, serviceentry-hosts.ts).
    const dp = isPlainObject(d.port) && typeof d.port.number === "number" ? d.port.number : undefined;
    const r = ctx.externalCluster(host, dp, typeof d.subset === "string" ? d.subset : "", vs.metadata.namespace ?? "");
    if ("cluster" in r) return r.cluster;
    ctx.warn(vs, `${field}.host`, `${r.reason}: requests to it get 503`);
    return undefined;
  }
  const ports = (isPlainObject(svc.spec) && Array.isArray(svc.spec.ports) ? svc.spec.ports : []).filter(isPlainObject);
  const dp = isPlainObject(d.port) && typeof d.port.number === "number" ? d.port.number : undefined;
  const port = dp ?? (ports.length === 1 ? Number(ports[0]!.port) : ctx.hasPort(svc, ctx.target.port) ? ctx.target.port : undefined);
  if (port === undefined || !ctx.hasPort(svc, port)) {
    ctx.warn(vs, `${field}.port`, dp === undefined ? `${host} has several ports: name one` : `${host} has no port ${dp}`);
    return undefined;
  }
  return ctx.cluster(svc, port, typeof d.subset === "string" ? d.subset : "");
}

function fraction(p: unknown): FractionalPercent | undefined {
  if (!isPlainObject(p) || typeof p.value !== "number") return undefined;
  return p.value >= 100 ? undefined : { numerator: Math.round(p.value * 10_000), denominator: "MILLION" };
}

/** One VirtualService's rules for the context's service port, in order. */
export function translateVirtualService(vs: KubeObject, ctx: RouteContext): Route[] {
  const spec = isPlainObject(vs.spec) ? vs.spec : {};
  const out: Route[] = [];
  for (const [ri, rule] of objs(spec.http).entries()) {
    const rpath = `spec.http[${ri}]`;
    for (const f of ["corsPolicy", "delegate"]) if (rule[f] !== undefined) ctx.warn(vs, `${rpath}.${f}`, "not supported yet and ignored");
    const fault = isPlainObject(rule.fault)
      ? faultConfig(rule.fault, (f, reason) => ctx.warn(vs, `${rpath}.fault.${f}`, reason))
      : undefined;
    const matches = objs(rule.match);
    const list = matches.length ? matches : [{}];
    const headers = headerOps(isPlainObject(rule.headers) ? rule.headers.request : undefined);
    let action: RouteAction | undefined;
    let redirect: RedirectAction | undefined;
    let direct: Route["directResponse"];
    const dests = objs(rule.route);
    if (isPlainObject(rule.redirect)) {
      const r = rule.redirect;
      redirect = {
        responseCode: REDIRECT_CODES[typeof r.redirectCode === "number" ? r.redirectCode : 301] ?? "MOVED_PERMANENTLY",
        ...(typeof r.uri === "string" ? { pathRedirect: r.uri } : {}),
        ...(typeof r.authority === "string" ? { hostRedirect: r.authority } : {}),
        ...(typeof r.port === "number" ? { portRedirect: r.port } : {}),
        ...(typeof r.scheme === "string" ? { schemeRedirect: r.scheme } : {}),
      };
      if (r.derivePort !== undefined) ctx.warn(vs, `${rpath}.redirect.derivePort`, "not supported yet and ignored");
    } else if (isPlainObject(rule.directResponse)) {
      const d = rule.directResponse;
      const body = isPlainObject(d.body)
        ? typeof d.body.string === "string"
          ? d.body.string
          : typeof d.body.bytes === "string"
            ? Buffer.from(d.body.bytes, "base64").toString()
            : undefined
        : undefined;
      direct = { status: Number(d.status), ...(body !== undefined ? { body: { inlineString: body } } : {}) };
    } else if (dests.length > 0) {
      const clusters = dests
        .map((d, i) => ({
          name:
            destinationCluster(vs, isPlainObject(d.destination) ? d.destination : {}, `${rpath}.route[${i}].destination`, ctx) ??
            `unknown|${String((d.destination as Obj | undefined)?.host)}`,
          weight: { value: typeof d.weight === "number" ? d.weight : dests.length === 1 ? 100 : 0 },
        }))
        .filter((c) => c.weight.value > 0);
      action = clusters.length === 1 ? { cluster: clusters[0]!.name } : { weightedClusters: { clusters } };
      if (dests.length === 1) {
        const dh = headerOps(isPlainObject(dests[0]!.headers) ? dests[0]!.headers.request : undefined);
        headers.add.push(...dh.add);
        headers.remove.push(...dh.remove);
      } else if (dests.some((d) => d.headers !== undefined))
        ctx.warn(vs, `${rpath}.route`, "per-destination headers with several destinations are not supported yet and are ignored");
      const mirrors = [
        ...(isPlainObject(rule.mirror)
          ? [
              {
                destination: rule.mirror,
                percentage: rule.mirrorPercentage ?? (typeof rule.mirrorPercent === "number" ? { value: rule.mirrorPercent } : undefined),
              },
            ]
          : []),
        ...objs(rule.mirrors),
      ];
      const policies = mirrors.flatMap((m, i) => {
        const c = destinationCluster(
          vs,
          isPlainObject(m.destination) ? m.destination : {},
          `${rpath}.mirror${rule.mirror ? "" : `s[${i}]`}`,
          ctx,
        );
        const f = fraction(m.percentage);
        return c ? [{ cluster: c, ...(f ? { runtimeFraction: { defaultValue: f } } : {}) }] : [];
      });
      if (policies.length) action = { ...action, requestMirrorPolicies: policies };
      const timeout = typeof rule.timeout === "string" ? parseDuration(rule.timeout) : undefined;
      const retry = retryPolicy(isPlainObject(rule.retries) ? rule.retries : undefined);
      action = { ...action, ...timeoutFields(timeout), ...(retry ? { retryPolicy: retry } : {}) };
    }
    const rw = isPlainObject(rule.rewrite) ? rule.rewrite : undefined;
    for (const [mi, m] of list.entries()) {
      const match = vsMatch(vs, m, `${rpath}.match[${mi}]`, ctx);
      if (!match) continue;
      const name = routeName("VirtualService", vs, ri, mi, list.length);
      let r: Route;
      if (redirect) r = { name, match, redirect };
      else if (direct) r = { name, match, directResponse: direct };
      else {
        let a: RouteAction = action ?? { cluster: "unknown|" };
        if (rw) {
          if (typeof rw.authority === "string") a = { ...a, hostRewriteLiteral: rw.authority };
          if (isPlainObject(rw.uriRegexRewrite))
            a = {
              ...a,
              regexRewrite: { pattern: { regex: String(rw.uriRegexRewrite.match) }, substitution: String(rw.uriRegexRewrite.rewrite) },
            };
          else if (typeof rw.uri === "string")
            a = match.safeRegex
              ? { ...a, regexRewrite: { pattern: { regex: "^/.*$" }, substitution: rw.uri } }
              : { ...a, prefixRewrite: rw.uri };
        }
        r = { name, match, route: a };
      }
      out.push({
        ...r,
        ...(fault ? { typedPerFilterConfig: { [FAULT_FILTER]: fault } } : {}),
        ...(headers.add.length ? { requestHeadersToAdd: headers.add } : {}),
        ...(headers.remove.length ? { requestHeadersToRemove: headers.remove } : {}),
        ...responseHeaders(rule, dests),
      });
    }
  }
  return out;
}

function responseHeaders(rule: Obj, dests: Obj[]): Pick<Route, "responseHeadersToAdd" | "responseHeadersToRemove"> {
  const rh = headerOps(isPlainObject(rule.headers) ? rule.headers.response : undefined);
  if (dests.length === 1 && isPlainObject(dests[0]!.headers)) {
    const d = headerOps(dests[0]!.headers.response);
    rh.add.push(...d.add);
    rh.remove.push(...d.remove);
  }
  return {
    ...(rh.add.length ? { responseHeadersToAdd: rh.add } : {}),
    ...(rh.remove.length ? { responseHeadersToRemove: rh.remove } : {}),
  };
}
