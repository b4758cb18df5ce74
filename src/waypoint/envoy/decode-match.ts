/**
 * Decodes Envoy's matchers (envoy.type.matcher.v3.StringMatcher, config.route.v3.RouteMatch,
 * HeaderMatcher, QueryParameterMatcher) into the waypoint's match types, compiling every
 * safe_regex once here (RE2 rules, route/regex.ts). Pure.
 */
import { compileRe2 } from "../route/regex.js";
import { type Decoding, type Obj, arr, join, obj, str, wrapped } from "./fields.js";
import type { HeaderMatch, QueryMatch, RouteMatch, StringMatch } from "./types.js";

function regex(d: Decoding, v: unknown, path: string) {
  const o = obj(v) ?? {};
  d.only(o, path, ["regex", "googleRe2"]);
  const src = str(o.regex);
  if (src === undefined) {
    d.fail(join(path, "regex"), "required");
    return undefined;
  }
  const r = compileRe2(src);
  if (!r.ok) {
    d.fail(join(path, "regex"), r.error.message);
    return undefined;
  }
  return r.value;
}

export function decodeStringMatcher(d: Decoding, o: Obj, path: string): StringMatch | undefined {
  d.only(o, path, ["exact", "prefix", "suffix", "contains", "safeRegex", "ignoreCase"]);
  const ignoreCase = o.ignoreCase === true;
  for (const kind of ["exact", "prefix", "suffix", "contains"] as const) {
    const v = str(o[kind]);
    if (v !== undefined) return { kind, value: ignoreCase ? v.toLowerCase() : v, ignoreCase };
  }
  if (o.safeRegex !== undefined) {
    if (ignoreCase) d.fail(join(path, "ignore_case"), "has no effect on safe_regex (Envoy rejects it); use (?i)");
    const r = regex(d, o.safeRegex, join(path, "safe_regex"));
    return r ? { kind: "regex", regex: r } : undefined;
  }
  d.fail(path, "one of exact, prefix, suffix, contains, safe_regex is required");
  return undefined;
}

export function decodeHeaderMatcher(d: Decoding, o: Obj, path: string): HeaderMatch | undefined {
  d.only(o, path, [
    "name",
    "exactMatch",
    "safeRegexMatch",
    "presentMatch",
    "prefixMatch",
    "suffixMatch",
    "containsMatch",
    "stringMatch",
    "invertMatch",
    "treatMissingHeaderAsEmpty",
  ]);
  const name = str(o.name)?.toLowerCase();
  if (!name) {
    d.fail(join(path, "name"), "required");
    return undefined;
  }
  const base = { name, invert: o.invertMatch === true, missingAsEmpty: o.treatMissingHeaderAsEmpty === true };
  const legacy: Array<[string, "exact" | "prefix" | "suffix" | "contains"]> = [
    ["exactMatch", "exact"],
    ["prefixMatch", "prefix"],
    ["suffixMatch", "suffix"],
    ["containsMatch", "contains"],
  ];
  for (const [field, kind] of legacy) {
    const v = str(o[field]);
    if (v !== undefined) return { ...base, match: { kind, value: v, ignoreCase: false } };
  }
  if (o.safeRegexMatch !== undefined) {
    const r = regex(d, o.safeRegexMatch, join(path, "safe_regex_match"));
    return r ? { ...base, match: { kind: "regex", regex: r } } : undefined;
  }
  if (o.stringMatch !== undefined) {
    const m = decodeStringMatcher(d, obj(o.stringMatch) ?? {}, join(path, "string_match"));
    return m ? { ...base, match: m } : undefined;
  }
  if (o.presentMatch !== undefined) return { ...base, match: { kind: "present", present: o.presentMatch === true } };
  // No specifier: Envoy matches when the header is present.
  return { ...base, match: { kind: "present", present: true } };
}

export function decodeQueryMatcher(d: Decoding, o: Obj, path: string): QueryMatch | undefined {
  d.only(o, path, ["name", "stringMatch", "presentMatch"]);
  const name = str(o.name);
  if (!name) {
    d.fail(join(path, "name"), "required");
    return undefined;
  }
  if (o.stringMatch !== undefined) {
    const m = decodeStringMatcher(d, obj(o.stringMatch) ?? {}, join(path, "string_match"));
    return m ? { name, match: m } : undefined;
  }
  if (o.presentMatch === true) return { name, match: { kind: "present" } };
  d.fail(path, "one of string_match, present_match: true is required");
  return undefined;
}

export function decodeRouteMatch(d: Decoding, o: Obj, path: string): RouteMatch | undefined {
  d.only(o, path, ["prefix", "path", "safeRegex", "pathSeparatedPrefix", "caseSensitive", "headers", "queryParameters", "grpc"]);
  let spec: RouteMatch["path"] | undefined;
  if (str(o.prefix) !== undefined) spec = { kind: "prefix", value: str(o.prefix)! };
  else if (str(o.path) !== undefined) spec = { kind: "exact", value: str(o.path)! };
  else if (str(o.pathSeparatedPrefix) !== undefined) {
    const v = str(o.pathSeparatedPrefix)!;
    if (!v.startsWith("/") || (v.length > 1 && v.endsWith("/")) || /[?#]/.test(v))
      d.fail(join(path, "path_separated_prefix"), `${JSON.stringify(v)} must start with / and not end with /, ? or #`);
    spec = { kind: "path_separated_prefix", value: v };
  } else if (o.safeRegex !== undefined) {
    const r = regex(d, o.safeRegex, join(path, "safe_regex"));
    if (r) spec = { kind: "regex", regex: r };
    else return undefined;
  } else {
    d.fail(path, "one of prefix, path, safe_regex, path_separated_prefix is required");
    return undefined;
  }
  const grpc = obj(o.grpc);
  if (grpc) d.only(grpc, join(path, "grpc"), []);
  const headers = arr(o.headers).map((h, i) => decodeHeaderMatcher(d, h, `${join(path, "headers")}[${i}]`));
  const query = arr(o.queryParameters).map((q, i) => decodeQueryMatcher(d, q, `${join(path, "query_parameters")}[${i}]`));
  return {
    path: spec,
    caseSensitive: wrapped(o.caseSensitive, false) ?? true,
    headers: headers.filter((h): h is HeaderMatch => h !== undefined),
    queryParameters: query.filter((q): q is QueryMatch => q !== undefined),
    grpc: grpc !== undefined,
  };
}
