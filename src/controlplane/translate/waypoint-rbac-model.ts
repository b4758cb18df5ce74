/**
 * One AuthorizationPolicy rule -> one envoy.config.rbac.v3.Policy, as istiod's model does it
 * (pilot/pkg/security/authz/model: model.go, generator.go, matcher/): one permission per `to`
 * (AND of its fields, each field an OR of its values, `not*` as NOT(OR)), one principal per
 * `from`, every `when` condition appended to each permission (destination.*, connection.sni,
 * experimental.envoy.filters.*) or principal (source.*, remote.ip, request.*); an empty list
 * becomes `any`. Field order within a permission/principal is istiod's (hosts, methods, paths,
 * ports, then conditions; principals, requestPrincipals, serviceAccounts, trustDomains,
 * namespaces, remoteIpBlocks, ipBlocks, then conditions).
 *
 * Output is protobufjs JSON of Envoy's protos (camelCase, `@type` for Any); the peer identity
 * is matched in filter state `io.istio.peer_principal`, as istiod does for waypoints. Values
 * were validated by the parser, so a conversion error here is a bug guard (the caller fails the
 * policy closed). Pure.
 */
import { addressOf, portsOf } from "./authorization-policy-values.js";
import type { ParsedOperation, ParsedRule, ParsedSource } from "./authorization-policy-parse.js";
import { URI_TEMPLATE_TYPE_URL } from "../../common/xds/envoy-proto.js";

export type Json = Record<string, unknown>;

export const JWT_FILTER = "envoy.filters.http.jwt_authn";
export const JWT_PAYLOAD_KEY = "payload";
export const PEER_PRINCIPAL_KEY = "io.istio.peer_principal";

const quoteMeta = (s: string) => s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");

/** matcher.StringMatcherWithPrefix. */
export function stringMatcher(v: string, prefix = ""): Json {
  if (v === "*") return { safeRegex: { regex: ".+" } };
  if (v.startsWith("*")) return prefix ? { safeRegex: { regex: `${prefix}.*${quoteMeta(v.slice(1))}` } } : { suffix: v.slice(1) };
  if (v.endsWith("*")) return { prefix: prefix + v.slice(0, -1) };
  return { exact: prefix + v };
}

/** matcher.HeaderMatcher / HostMatcher (hosts ignore case). */
function headerMatcher(name: string, v: string, ignoreCase = false): Json {
  if (v === "*") return { name, presentMatch: true };
  const ic = ignoreCase ? { ignoreCase: true } : {};
  if (v.startsWith("*")) return { name, stringMatch: { suffix: v.slice(1), ...ic } };
  if (v.endsWith("*")) return { name, stringMatch: { prefix: v.slice(0, -1), ...ic } };
  return { name, stringMatch: { exact: v, ...ic } };
}

function cidr(v: string): Json {
  const a = addressOf(v);
  return { addressPrefix: a.address, prefixLen: { value: a.length } };
}

/** istiod keeps a one-element OR (permissionOr/principalOr); only requestPrincipal collapses its own. */
const permOr = (xs: Json[]): Json => ({ orRules: { rules: xs } });
const princOr = (xs: Json[]): Json => ({ orIds: { ids: xs } });
const metadataMatch = (filter: string, path: readonly string[], value: Json): Json => ({
  metadata: { filter, path: path.map((key) => ({ key })), value },
});

/** The JWT payload claim matcher istiod generates (MetadataListValueMatcherForJWTClaims): list one_of, or the value itself. */
function claimMatcher(claims: readonly string[], values: readonly string[]): Json {
  const value =
    values.length === 1
      ? { stringMatch: stringMatcher(values[0]!) }
      : { orMatch: { valueMatchers: values.map((v) => ({ stringMatch: stringMatcher(v) })) } };
  return metadataMatch(JWT_FILTER, [JWT_PAYLOAD_KEY, ...claims], { orMatch: { valueMatchers: [{ listMatch: { oneOf: value } }, value] } });
}

/** requestPrincipalGenerator: `iss/sub` with Istio's wildcard forms. */
function requestPrincipal(values: readonly string[]): Json {
  const any = { safeRegex: { regex: ".+" } };
  const ids = values.map((v) => {
    const idx = v.lastIndexOf("/");
    const found = idx >= 0;
    const iss = found ? v.slice(0, idx) : v;
    const sub = found ? v.slice(idx + 1) : "";
    let mi: Json, ms: Json;
    if (v === "*") [mi, ms] = [any, any];
    else if (v.startsWith("*")) {
      if (found) [mi, ms] = [iss === "*" ? any : { suffix: iss.slice(1) }, { exact: sub }];
      else [mi, ms] = [any, { suffix: v.slice(1) }];
    } else if (v.endsWith("*")) {
      if (found) [mi, ms] = [{ exact: iss }, sub === "*" ? any : { prefix: sub.slice(0, -1) }];
      else [mi, ms] = [{ prefix: v.slice(0, -1) }, any];
    } else [mi, ms] = [{ exact: iss }, { exact: sub }];
    const m = (claim: string, s: Json) => metadataMatch(JWT_FILTER, [JWT_PAYLOAD_KEY, claim], { stringMatch: s });
    return { andIds: { ids: [m("iss", mi), m("sub", ms)] } };
  });
  return ids.length === 1 ? ids[0]! : princOr(ids);
}

const peer = (m: Json): Json => ({ filterState: { key: PEER_PRINCIPAL_KEY, stringMatch: m } });

function namespaceRegex(v: string): Json {
  return peer({ safeRegex: { regex: `.*/ns/${v.split("*").map(quoteMeta).join(".*")}/.*` } });
}

function serviceAccount(v: string, policyNs: string): Json {
  const [ns, sa] = v.includes("/") ? [v.slice(0, v.indexOf("/")), v.slice(v.indexOf("/") + 1)] : [policyNs, v];
  return peer({ safeRegex: { regex: `spiffe://.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?` } });
}

function trustDomain(v: string): Json {
  if (v === "*") return peer({ prefix: "spiffe://" });
  if (!v.includes("*")) return peer({ prefix: `spiffe://${v}/` });
  const [a, b] = [v.slice(0, v.indexOf("*")), v.slice(v.indexOf("*") + 1)];
  return peer({ safeRegex: { regex: `spiffe://${quoteMeta(a)}[^/]*${quoteMeta(b)}/.*` } });
}

function path(v: string): Json {
  if (/\{\*\*?\}/.test(v)) {
    const t = v.replace(/\{\*\*\}/g, "**").replace(/\{\*\}/g, "*");
    return { uriTemplate: { name: "uri-template", typedConfig: { "@type": URI_TEMPLATE_TYPE_URL, pathTemplate: t } } };
  }
  return { urlPath: { path: stringMatcher(v) } };
}

type Gen = (v: string) => Json;
type ExtGen = (vs: readonly string[]) => Json;

/** One attribute with values/notValues: OR of values, NOT(OR) of notValues (extended: the generator ORs itself). */
function field(
  out: Json[],
  orOf: (xs: Json[]) => Json,
  values: readonly string[],
  notValues: readonly string[],
  g: Gen | { ext: ExtGen },
  neg: (j: Json) => Json,
) {
  const one = (vs: readonly string[]) => ("ext" in g ? g.ext(vs) : orOf(vs.map(g)));
  if (values.length) out.push(one(values));
  if (notValues.length) out.push(neg(one(notValues)));
}

const notPerm = (j: Json): Json => ({ notRule: j });
const notPrinc = (j: Json): Json => ({ notId: j });

function whenKey(key: string): { side: "permission" | "principal"; g: Gen | { ext: ExtGen } } {
  const bracket = (pre: string) => key.slice(pre.length + 1, -1);
  switch (key) {
    case "destination.ip":
      return { side: "permission", g: (v) => ({ destinationIp: cidr(v) }) };
    case "destination.port":
      return { side: "permission", g: (v) => ({ destinationPort: portsOf([v])[0] }) };
    case "connection.sni":
      return { side: "permission", g: (v) => ({ requestedServerName: stringMatcher(v) }) };
    case "source.ip":
      return { side: "principal", g: (v) => ({ directRemoteIp: cidr(v) }) };
    case "remote.ip":
      return { side: "principal", g: (v) => ({ remoteIp: cidr(v) }) };
    case "source.namespace":
      return { side: "principal", g: namespaceRegex };
    case "source.principal":
      return { side: "principal", g: (v) => peer(stringMatcher(v, "spiffe://")) };
    case "request.auth.principal":
      return { side: "principal", g: { ext: requestPrincipal } };
    case "request.auth.audiences":
      return { side: "principal", g: { ext: (vs) => claimMatcher(["aud"], vs) } };
    case "request.auth.presenter":
      return { side: "principal", g: { ext: (vs) => claimMatcher(["azp"], vs) } };
  }
  if (key === "source.serviceAccount") throw new Error("source.serviceAccount needs the policy namespace");
  if (key === "source.trustDomain") return { side: "principal", g: trustDomain };
  if (key.startsWith("request.headers["))
    return { side: "principal", g: (v) => ({ header: headerMatcher(bracket("request.headers"), v) }) };
  if (key.startsWith("request.auth.claims["))
    return { side: "principal", g: { ext: (vs) => claimMatcher(nestedClaims(key.slice("request.auth.claims".length)), vs) } };
  if (key.startsWith("experimental.envoy.filters.")) {
    const rest = key.slice("experimental.".length);
    const [filter, k] = [rest.slice(0, rest.indexOf("[")), rest.slice(rest.indexOf("[") + 1, -1)];
    return {
      side: "permission",
      g: {
        ext: (vs) => {
          const ms = vs.map((v) =>
            v.startsWith("[") && v.endsWith("]")
              ? { listMatch: { oneOf: { stringMatch: stringMatcher(v.slice(1, -1)) } } }
              : { stringMatch: stringMatcher(v) },
          );
          return metadataMatch(filter, [k], ms.length === 1 ? ms[0]! : { orMatch: { valueMatchers: ms } });
        },
      },
    };
  }
  throw new Error(`unknown attribute ${key}`);
}

/** `[a][b]` -> [a, b]; a key that is not all brackets is one name (istiod's extractNameInNestedBrackets). */
export function nestedClaims(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] !== "[") return [s.slice(1, -1)];
    const end = s.indexOf("]", i);
    if (end < 0 || s.slice(i + 1, end).includes("[")) return [s.slice(1, -1)];
    out.push(s.slice(i + 1, end));
    i = end + 1;
  }
  return out;
}

function operation(o: ParsedOperation | undefined, base: Json[]): Json[] {
  const out: Json[] = [];
  if (o) {
    field(out, permOr, o.hosts, o.notHosts, (v) => ({ header: headerMatcher(":authority", v, true) }), notPerm);
    field(out, permOr, o.methods, o.notMethods, (v) => ({ header: headerMatcher(":method", v) }), notPerm);
    field(out, permOr, o.paths, o.notPaths, path, notPerm);
    field(out, permOr, o.ports, o.notPorts, (v) => ({ destinationPort: portsOf([v])[0] }), notPerm);
  }
  return [...out, ...base];
}

function source(s: ParsedSource | undefined, base: Json[], ns: string): Json[] {
  const out: Json[] = [];
  if (s) {
    field(out, princOr, s.principals, s.notPrincipals, (v) => peer(stringMatcher(v, "spiffe://")), notPrinc);
    field(out, princOr, s.requestPrincipals, s.notRequestPrincipals, { ext: requestPrincipal }, notPrinc);
    field(out, princOr, s.serviceAccounts, s.notServiceAccounts, (v) => serviceAccount(v, ns), notPrinc);
    field(out, princOr, s.trustDomains, s.notTrustDomains, trustDomain, notPrinc);
    field(out, princOr, s.namespaces, s.notNamespaces, namespaceRegex, notPrinc);
    field(out, princOr, s.remoteIpBlocks, s.notRemoteIpBlocks, (v) => ({ remoteIp: cidr(v) }), notPrinc);
    field(out, princOr, s.ipBlocks, s.notIpBlocks, (v) => ({ directRemoteIp: cidr(v) }), notPrinc);
  }
  return [...out, ...base];
}

/** The Envoy Policy of one rule (`permissions`, `principals`). Throws only on a value the parser should have refused. */
export function rulePolicy(rule: ParsedRule, policyNamespace: string): Json {
  const basePerm: Json[] = [];
  const basePrinc: Json[] = [];
  for (const c of rule.when) {
    if (c.key === "source.serviceAccount") {
      field(basePrinc, princOr, c.values, c.notValues, (v) => serviceAccount(v, policyNamespace), notPrinc);
      continue;
    }
    const w = whenKey(c.key);
    if (w.side === "permission") field(basePerm, permOr, c.values, c.notValues, w.g, notPerm);
    else field(basePrinc, princOr, c.values, c.notValues, w.g, notPrinc);
  }
  const and = (key: "andRules" | "andIds", inner: "rules" | "ids", xs: Json[]) => ({
    [key]: { [inner]: xs.length ? xs : [{ any: true }] },
  });
  const permissions = (rule.to ?? [undefined]).map((t) => and("andRules", "rules", operation(t, basePerm)));
  const principals = (rule.from ?? [undefined]).map((f) => and("andIds", "ids", source(f, basePrinc, policyNamespace)));
  return { permissions, principals };
}

const HTTP_WHEN = (k: string) => k.startsWith("request.");

/**
 * A rule as a TCP filter chain sees it (istiod's Generate with forTCP): HTTP-only attributes
 * (hosts, methods, paths, requestPrincipals, request.* conditions) make an ALLOW rule skipped
 * (undefined: it allows nothing) and are dropped from a DENY rule (it denies more).
 */
export function tcpRule(rule: ParsedRule, action: "ALLOW" | "DENY"): ParsedRule | undefined {
  const http =
    (rule.to ?? []).some((o) => [o.hosts, o.notHosts, o.methods, o.notMethods, o.paths, o.notPaths].some((l) => l.length > 0)) ||
    (rule.from ?? []).some((s) => s.requestPrincipals.length > 0 || s.notRequestPrincipals.length > 0) ||
    rule.when.some((c) => HTTP_WHEN(c.key));
  if (!http) return rule;
  if (action === "ALLOW") return undefined;
  return {
    ...(rule.from ? { from: rule.from.map((s) => ({ ...s, requestPrincipals: [], notRequestPrincipals: [] })) } : {}),
    ...(rule.to
      ? { to: rule.to.map((o) => ({ ...o, hosts: [], notHosts: [], methods: [], notMethods: [], paths: [], notPaths: [] })) }
      : {}),
    when: rule.when.filter((c) => !HTTP_WHEN(c.key)),
  };
}

/** A policy that matches nothing (istiod's rbacPolicyMatchNever: an ALLOW/DENY without rules). */
export const MATCH_NEVER: Json = { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] };
/** A policy that matches everything (weft's fail-closed DENY). */
export const MATCH_ALL: Json = { permissions: [{ any: true }], principals: [{ any: true }] };
