/**
 * Gateway API HTTPRoute rules attached to a Service port -> Envoy routes, one per match, with
 * the precedence key of each (precedence.ts sorts them). Semantics from the HTTPRoute spec:
 *
 * - A rule without matches matches everything (`PathPrefix /`, the CRD default); a match without
 *   a path is `PathPrefix /`. Exact -> `path`; PathPrefix -> `path_separated_prefix` (`/foo`
 *   matches `/foo` and `/foo/bar`, not `/foobar`; `/` -> `prefix /`); RegularExpression ->
 *   `safe_regex`. Headers (Exact/RegularExpression) -> HeaderMatcher, names lower-cased;
 *   queryParams -> QueryParameterMatcher; method -> a `:method` HeaderMatcher.
 * - RequestRedirect: scheme/hostname/port/statusCode (default 302); path ReplaceFullPath ->
 *   path_redirect, ReplacePrefixMatch -> prefix_rewrite. URLRewrite: hostname ->
 *   host_rewrite_literal; ReplaceFullPath -> regex_rewrite `^/.*$`; ReplacePrefixMatch with
 *   Gateway API's prefix semantics (`/foo` -> `/xyz` turns `/foo/bar` into `/xyz/bar`; `/foo` ->
 *   `/` turns `/foo/bar` into `/bar`, not `//bar`): prefix_rewrite when it is exact, else a
 *   regex_rewrite.
 * - timeouts.request / backendRequest and retry {attempts, codes, backoff}: as Istio converts
 *   them (resilience.ts); no retry stanza -> Istio's default retry policy.
 */
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { HeaderMatcher, QueryParameterMatcher, RedirectAction, Route, RouteAction, RouteMatch } from "./envoy-types.js";
import type { RouteContext } from "./context.js";
import type { HttpMatchView, RankedRoute } from "./precedence.js";
import { type FilterEffects, backendAction, sharedFilter, withEffects } from "./gateway-rule.js";
import { gatewayRetryAndTimeout, retryPolicy, timeoutFields } from "./resilience.js";
import { parseDuration, routeName, objs, escapeRegex, REDIRECT_CODES } from "./names.js";

type Obj = Record<string, unknown>;

function stringMatch(type: unknown, value: string): { exact: string } | { safeRegex: { regex: string } } {
  return type === "RegularExpression" ? { safeRegex: { regex: value } } : { exact: value };
}

interface PathView {
  readonly type: HttpMatchView["pathType"];
  readonly value: string;
}

function pathOf(m: Obj): PathView {
  const p = isPlainObject(m.path) ? m.path : {};
  const type = p.type === "Exact" || p.type === "RegularExpression" ? p.type : "PathPrefix";
  return { type, value: typeof p.value === "string" ? p.value : "/" };
}

/** The Envoy match of one HTTPRoute match. */
export function httpMatch(m: Obj): RouteMatch {
  const path = pathOf(m);
  const headers: HeaderMatcher[] = objs(m.headers).map((h) => ({
    name: String(h.name).toLowerCase(),
    stringMatch: stringMatch(h.type, String(h.value)),
  }));
  if (typeof m.method === "string") headers.push({ name: ":method", stringMatch: { exact: m.method } });
  const queryParameters: QueryParameterMatcher[] = objs(m.queryParams).map((q) => ({
    name: String(q.name),
    stringMatch: stringMatch(q.type, String(q.value)),
  }));
  let base: RouteMatch;
  if (path.type === "Exact") base = { path: path.value };
  else if (path.type === "RegularExpression") base = { safeRegex: { regex: path.value } };
  else {
    const trimmed = path.value.length > 1 ? path.value.replace(/\/+$/, "") : path.value;
    base = trimmed === "/" ? { prefix: "/" } : { pathSeparatedPrefix: trimmed };
  }
  return { ...base, ...(headers.length ? { headers } : {}), ...(queryParameters.length ? { queryParameters } : {}) };
}

/** Gateway API ReplacePrefixMatch on a PathPrefix match, as an Envoy rewrite (see header). */
export function prefixRewrite(matchPrefix: string, replacement: string): Pick<RouteAction, "prefixRewrite" | "regexRewrite"> {
  const prefix = matchPrefix.length > 1 ? matchPrefix.replace(/\/+$/, "") : "/";
  if (prefix !== "/" && !replacement.endsWith("/")) return { prefixRewrite: replacement };
  const pattern = prefix === "/" ? "^/" : `^${escapeRegex(prefix)}/?`;
  const substitution = replacement.endsWith("/") ? replacement : `${replacement}/`;
  return { regexRewrite: { pattern: { regex: pattern }, substitution } };
}

function redirectAction(r: Obj, path: PathView): RedirectAction {
  const code = typeof r.statusCode === "number" ? r.statusCode : 302;
  const p = isPlainObject(r.path) ? r.path : undefined;
  const out: { -readonly [K in keyof RedirectAction]: RedirectAction[K] } & { regexRewrite?: RouteAction["regexRewrite"] } = {
    responseCode: REDIRECT_CODES[code as number] ?? "FOUND",
  };
  if (typeof r.scheme === "string") out.schemeRedirect = r.scheme;
  if (typeof r.hostname === "string") out.hostRedirect = r.hostname;
  if (typeof r.port === "number") out.portRedirect = r.port;
  if (p?.type === "ReplaceFullPath") out.pathRedirect = String(p.replaceFullPath);
  else if (p?.type === "ReplacePrefixMatch") Object.assign(out, prefixRewrite(path.value, String(p.replacePrefixMatch)));
  return out;
}

/** Every match of every rule of one HTTPRoute, ranked, as Envoy routes for the context's port. */
export function translateHttpRoute(route: KubeObject, ctx: RouteContext): RankedRoute<HttpMatchView>[] {
  const spec = isPlainObject(route.spec) ? route.spec : {};
  const out: RankedRoute<HttpMatchView>[] = [];
  for (const [ri, rule] of objs(spec.rules).entries()) {
    const rpath = `spec.rules[${ri}]`;
    const matches = objs(rule.matches);
    const list = matches.length ? matches : [{}];
    const fx: FilterEffects = {};
    let redirect: Obj | undefined;
    let rewrite: Obj | undefined;
    for (const [fi, f] of objs(rule.filters).entries()) {
      if (sharedFilter(route, "HTTPRoute", f, `${rpath}.filters[${fi}]`, ctx, fx)) continue;
      if (f.type === "RequestRedirect") redirect = isPlainObject(f.requestRedirect) ? f.requestRedirect : {};
      else if (f.type === "URLRewrite") rewrite = isPlainObject(f.urlRewrite) ? f.urlRewrite : {};
    }
    const backend = redirect ? {} : backendAction(route, "HTTPRoute", rule, rpath, ctx);
    const rt = gatewayRetryAndTimeout(rule);
    const retry = retryPolicy(rt.retries);
    const resilience = { ...timeoutFields(rt.timeout ? parseDuration(rt.timeout) : undefined), ...(retry ? { retryPolicy: retry } : {}) };
    for (const [mi, m] of list.entries()) {
      const path = pathOf(m);
      const name = routeName("HTTPRoute", route, ri, mi, list.length);
      const match = httpMatch(m);
      let r: Route;
      if (redirect) r = { name, match, redirect: redirectAction(redirect, path) };
      else if (backend.route) {
        let action: RouteAction = { ...backend.route, ...resilience };
        if (rewrite) {
          const p = isPlainObject(rewrite.path) ? rewrite.path : undefined;
          if (typeof rewrite.hostname === "string") action = { ...action, hostRewriteLiteral: rewrite.hostname };
          if (p?.type === "ReplaceFullPath")
            action = { ...action, regexRewrite: { pattern: { regex: "^/.*$" }, substitution: String(p.replaceFullPath) } };
          else if (p?.type === "ReplacePrefixMatch") action = { ...action, ...prefixRewrite(path.value, String(p.replacePrefixMatch)) };
        }
        r = { name, match, route: action };
      } else r = { name, match, directResponse: backend.directResponse ?? { status: 500 } };
      out.push({
        route,
        rule: ri,
        match: mi,
        value: {
          pathType: path.type,
          pathValue: path.value,
          method: typeof m.method === "string",
          headers: objs(m.headers).length,
          queryParams: objs(m.queryParams).length,
        },
        envoy: withEffects(r, fx),
      });
    }
  }
  return out;
}
