/**
 * Request and response rewriting, pure: header mutations at every level, and the path/host
 * rewrites of a forwarded route (prefix_rewrite, regex_rewrite, host_rewrite_literal).
 *
 * Order (Envoy with most_specific_header_mutations_wins = false, its default): weighted
 * cluster, route, virtual host, route configuration; at each level removals first, then
 * additions, so the outermost level has the last word on a header they both set.
 */
import type { HeaderAdd, HeaderMutations, RouteMatch } from "../envoy/types.js";
import { re2Replace } from "./regex.js";
import { pathOnly } from "./request.js";

export type HeaderMap = Record<string, string | string[]>;

/**
 * Applies `levels` (innermost first) to a copy of `headers` (lower-case names); when no level
 * mutates this side, `headers` itself is returned (no copy per request): pass a map the caller
 * owns (every caller passes endToEnd's fresh one or a literal).
 */
export function mutateHeaders(headers: Readonly<HeaderMap>, levels: readonly HeaderMutations[], side: "request" | "response"): HeaderMap {
  let out: HeaderMap | undefined;
  for (const m of levels) {
    const remove = side === "request" ? m.requestRemove : m.responseRemove;
    const add = side === "request" ? m.requestAdd : m.responseAdd;
    if (remove.length === 0 && add.length === 0) continue;
    out ??= { ...headers };
    for (const name of remove) delete out[name];
    for (const a of add) addHeader(out, a);
  }
  return out ?? (headers as HeaderMap);
}

function addHeader(h: HeaderMap, a: HeaderAdd): void {
  const cur = h[a.name];
  if (a.action === "overwrite" || cur === undefined) {
    h[a.name] = a.value;
    return;
  }
  if (a.action === "add_if_absent") return;
  h[a.name] = [...(Array.isArray(cur) ? cur : [cur]), a.value];
}

/** The matched part a prefix_rewrite replaces: the prefix for prefix matches, else the whole path. */
function matchedLength(match: RouteMatch, path: string): number {
  const p = match.path;
  if (p.kind === "prefix" || p.kind === "path_separated_prefix") return Math.min(p.value.length, path.length);
  return path.length;
}

/** `:path` after a route's prefix_rewrite / regex_rewrite; the query string is kept. */
export function rewritePath(
  path: string,
  match: RouteMatch,
  rewrite: { prefixRewrite?: string; regexRewrite?: { regex: { global: RegExp }; substitution: string } },
): string {
  const only = pathOnly(path);
  const rest = path.slice(only.length);
  if (rewrite.prefixRewrite !== undefined) return rewrite.prefixRewrite + only.slice(matchedLength(match, only)) + rest;
  if (rewrite.regexRewrite) return re2Replace(rewrite.regexRewrite.regex.global, only, rewrite.regexRewrite.substitution) + rest;
  return path;
}
