/**
 * Decodes envoy.extensions.filters.http.rbac.v3.RBAC (and the envoy.config.rbac.v3 policies in
 * it) into the waypoint's RbacFilter. Fail closed: every set field is understood or an error
 * naming its Envoy path, so a policy weft cannot evaluate is NACKed, never half-enforced. Pure.
 */
import { parseCidr } from "../../common/net/ip.js";
import { decodeHeaderMatcher, decodeStringMatcher } from "../envoy/decode-match.js";
import { type Decoding, type Obj, arr, join, num, obj, str, wrapped } from "../envoy/fields.js";
import { URI_TEMPLATE_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { unpackAny } from "../envoy/any.js";
import { compilePathTemplate } from "./path-template.js";
import type { MetadataMatch, Permission, Principal, RbacAction, RbacFilter, RbacPolicy, RbacRules, ValueMatch } from "./types.js";

export const RBAC_FILTER_NAME = "envoy.filters.http.rbac";

/** The HTTP RBAC filter's config, or the network one's (`extra`: its `stat_prefix`). */
export function decodeRbacFilter(d: Decoding, name: string, o: Obj, path: string, extra: readonly string[] = []): RbacFilter | undefined {
  d.only(o, path, ["rules", "shadowRules", "shadowRulesStatPrefix", "rulesStatPrefix", ...extra], ["trackPerRuleStats"]);
  const before = d.errors.length;
  const rules = o.rules !== undefined ? decodeRules(d, obj(o.rules) ?? {}, join(path, "rules")) : undefined;
  const shadow = o.shadowRules !== undefined ? decodeRules(d, obj(o.shadowRules) ?? {}, join(path, "shadow_rules")) : undefined;
  if (d.errors.length > before) return undefined;
  return {
    kind: "rbac",
    name,
    ...(rules ? { rules } : {}),
    ...(shadow ? { shadowRules: shadow } : {}),
    shadowRulesStatPrefix: str(o.shadowRulesStatPrefix) ?? "",
    rulesStatPrefix: str(o.rulesStatPrefix) ?? "",
  };
}

const ACTIONS: Record<string, RbacAction> = { ALLOW: "ALLOW", DENY: "DENY", LOG: "LOG" };

function decodeRules(d: Decoding, o: Obj, path: string): RbacRules {
  d.only(o, path, ["action", "policies"]);
  const action = ACTIONS[str(o.action) ?? "ALLOW"];
  if (!action) d.fail(join(path, "action"), `${String(o.action)} is not supported (ALLOW, DENY, LOG)`);
  const policies: RbacPolicy[] = [];
  const map = obj(o.policies) ?? {};
  for (const name of Object.keys(map).sort()) {
    const pp = `${join(path, "policies")}[${JSON.stringify(name)}]`;
    const p = obj(map[name]) ?? {};
    d.only(p, pp, ["permissions", "principals"]);
    const permissions = arr(p.permissions).map((x, i) => permission(d, x, `${join(pp, "permissions")}[${i}]`));
    const principals = arr(p.principals).map((x, i) => principal(d, x, `${join(pp, "principals")}[${i}]`));
    if (!permissions.length) d.fail(join(pp, "permissions"), "at least one permission is required (Envoy)");
    if (!principals.length) d.fail(join(pp, "principals"), "at least one principal is required (Envoy)");
    policies.push({
      name,
      permissions: permissions.filter((x): x is Permission => x !== undefined),
      principals: principals.filter((x): x is Principal => x !== undefined),
    });
  }
  return { action: action ?? "DENY", policies };
}

function oneKey(d: Decoding, o: Obj, path: string, known: readonly string[]): string | undefined {
  d.only(o, path, known);
  const keys = Object.keys(o).filter((k) => known.includes(k));
  if (keys.length !== 1) {
    d.fail(
      path,
      keys.length ? `only one of ${keys.map(snake).join(", ")} may be set` : `one of ${known.map(snake).join(", ")} is required`,
    );
    return undefined;
  }
  return keys[0];
}

const PERMISSION_KEYS = [
  "any",
  "andRules",
  "orRules",
  "notRule",
  "header",
  "urlPath",
  "uriTemplate",
  "destinationIp",
  "destinationPort",
  "destinationPortRange",
  "metadata",
  "requestedServerName",
];

function permission(d: Decoding, o: Obj, path: string): Permission | undefined {
  const k = oneKey(d, o, path, PERMISSION_KEYS);
  const p = k ? join(path, snake(k)) : path;
  switch (k) {
    case "any":
    case "header":
    case "urlPath":
    case "metadata":
      return shared(d, k, o, p);
    case "andRules":
    case "orRules": {
      const rules = members(d, obj(o[k]) ?? {}, p, "rules", permission);
      return rules ? { kind: k === "andRules" ? "and" : "or", rules } : undefined;
    }
    case "notRule": {
      const rule = permission(d, obj(o.notRule) ?? {}, p);
      return rule ? { kind: "not", rule } : undefined;
    }
    case "uriTemplate": {
      const t = obj(o.uriTemplate) ?? {};
      d.only(t, p, ["name", "typedConfig"]);
      const tc = unpackAny(d, t.typedConfig, join(p, "typed_config"));
      if (!tc) return undefined;
      if (tc.typeUrl !== URI_TEMPLATE_TYPE_URL)
        return fail(d, join(p, "typed_config"), `${tc.typeUrl} is not supported (${URI_TEMPLATE_TYPE_URL})`);
      d.only(tc.value, join(p, "typed_config"), ["pathTemplate"]);
      const c = compilePathTemplate(str(tc.value.pathTemplate) ?? "");
      return c.ok ? { kind: "uri_template", template: c.value } : fail(d, join(p, "typed_config.path_template"), c.error.message);
    }
    case "destinationIp": {
      const c = cidr(d, o.destinationIp, p);
      return c ? { kind: "destination_ip", cidr: c } : undefined;
    }
    case "destinationPort": {
      const port = num(o.destinationPort) ?? -1;
      return port >= 0 && port <= 65535 ? { kind: "destination_port", port } : fail(d, p, `${String(o.destinationPort)} is not a port`);
    }
    case "destinationPortRange": {
      const r = obj(o.destinationPortRange) ?? {};
      d.only(r, p, ["start", "end"]);
      return { kind: "destination_port_range", start: num(r.start) ?? 0, end: num(r.end) ?? 0 };
    }
    case "requestedServerName": {
      const m = decodeStringMatcher(d, obj(o.requestedServerName) ?? {}, p);
      return m ? { kind: "requested_server_name", name: m } : undefined;
    }
  }
  return undefined;
}

const PRINCIPAL_KEYS = [
  "any",
  "andIds",
  "orIds",
  "notId",
  "authenticated",
  "directRemoteIp",
  "remoteIp",
  "sourceIp",
  "header",
  "urlPath",
  "metadata",
  "filterState",
];

function principal(d: Decoding, o: Obj, path: string): Principal | undefined {
  const k = oneKey(d, o, path, PRINCIPAL_KEYS);
  const p = k ? join(path, snake(k)) : path;
  switch (k) {
    case "any":
    case "header":
    case "urlPath":
    case "metadata":
      return shared(d, k, o, p);
    case "andIds":
    case "orIds": {
      const ids = members(d, obj(o[k]) ?? {}, p, "ids", principal);
      return ids ? { kind: k === "andIds" ? "and" : "or", ids } : undefined;
    }
    case "notId": {
      const id = principal(d, obj(o.notId) ?? {}, p);
      return id ? { kind: "not", id } : undefined;
    }
    case "authenticated": {
      const a = obj(o.authenticated) ?? {};
      d.only(a, p, ["principalName"]);
      if (a.principalName === undefined) return { kind: "authenticated" };
      const m = decodeStringMatcher(d, obj(a.principalName) ?? {}, join(p, "principal_name"));
      return m ? { kind: "authenticated", name: m } : undefined;
    }
    case "directRemoteIp":
    case "remoteIp":
    case "sourceIp": {
      const c = cidr(d, o[k], p);
      return c ? { kind: k === "remoteIp" ? "remote_ip" : "direct_remote_ip", cidr: c } : undefined;
    }
    case "filterState": {
      const f = obj(o.filterState) ?? {};
      d.only(f, p, ["key", "stringMatch"]);
      const key = str(f.key) ?? "";
      if (!key) return fail(d, join(p, "key"), "required");
      if (f.stringMatch === undefined) return fail(d, join(p, "string_match"), "required (the only filter_state matcher weft supports)");
      const m = decodeStringMatcher(d, obj(f.stringMatch) ?? {}, join(p, "string_match"));
      return m ? { kind: "filter_state", key, match: m } : undefined;
    }
  }
  return undefined;
}

/** The matchers permissions and principals share (same Envoy field, same domain form). */
function shared(d: Decoding, k: "any" | "header" | "urlPath" | "metadata", o: Obj, p: string): (Permission & Principal) | undefined {
  if (k === "any") return o.any === true ? { kind: "any" } : fail(d, p, "must be true");
  if (k === "header") {
    const header = decodeHeaderMatcher(d, obj(o.header) ?? {}, p);
    return header ? { kind: "header", header } : undefined;
  }
  if (k === "urlPath") {
    const m = pathMatcher(d, obj(o.urlPath) ?? {}, p);
    return m ? { kind: "url_path", path: m } : undefined;
  }
  const m = decodeMetadataMatcher(d, obj(o.metadata) ?? {}, p);
  return m ? { kind: "metadata", metadata: m } : undefined;
}

function pathMatcher(d: Decoding, o: Obj, path: string) {
  d.only(o, path, ["path"]);
  return decodeStringMatcher(d, obj(o.path) ?? {}, join(path, "path"));
}

function cidr(d: Decoding, v: unknown, path: string) {
  const o = obj(v) ?? {};
  d.only(o, path, ["addressPrefix", "prefixLen"]);
  const ip = str(o.addressPrefix) ?? "";
  const len = wrapped<number>(o.prefixLen, 0);
  const r = parseCidr(len === undefined ? ip : `${ip}/${len}`);
  if (!r.ok) return fail(d, path, `${JSON.stringify(ip)}/${String(len)} is not a CIDR range: ${r.error.message}`);
  return r.value;
}

export function decodeMetadataMatcher(d: Decoding, o: Obj, path: string): MetadataMatch | undefined {
  d.only(o, path, ["filter", "path", "value", "invert"]);
  const filter = str(o.filter) ?? "";
  if (!filter) return fail(d, join(path, "filter"), "required");
  const keys: string[] = [];
  arr(o.path).forEach((s, i) => {
    d.only(s, `${join(path, "path")}[${i}]`, ["key"]);
    const k = str(s.key);
    if (k === undefined) d.fail(`${join(path, "path")}[${i}].key`, "required");
    else keys.push(k);
  });
  if (!keys.length) return fail(d, join(path, "path"), "at least one segment is required (Envoy)");
  const value = valueMatcher(d, obj(o.value) ?? {}, join(path, "value"));
  return value ? { filter, path: keys, value, invert: o.invert === true } : undefined;
}

function valueMatcher(d: Decoding, o: Obj, path: string): ValueMatch | undefined {
  const k = oneKey(d, o, path, ["nullMatch", "doubleMatch", "stringMatch", "boolMatch", "presentMatch", "listMatch", "orMatch"]);
  const p = k ? join(path, snake(k)) : path;
  switch (k) {
    case "nullMatch":
      return { kind: "null" };
    case "boolMatch":
      return { kind: "bool", value: o.boolMatch === true };
    case "presentMatch":
      return { kind: "present", present: o.presentMatch === true };
    case "stringMatch": {
      const m = decodeStringMatcher(d, obj(o.stringMatch) ?? {}, p);
      return m ? { kind: "string", match: m } : undefined;
    }
    case "doubleMatch": {
      const m = obj(o.doubleMatch) ?? {};
      d.only(m, p, ["exact", "range"]);
      if (m.exact !== undefined) return { kind: "double", exact: num(m.exact) ?? 0 };
      const r = obj(m.range) ?? {};
      return { kind: "double", range: { start: num(r.start) ?? 0, end: num(r.end) ?? 0 } };
    }
    case "listMatch": {
      const l = obj(o.listMatch) ?? {};
      d.only(l, p, ["oneOf"]);
      const one = valueMatcher(d, obj(l.oneOf) ?? {}, join(p, "one_of"));
      return one ? { kind: "list_one_of", one } : undefined;
    }
    case "orMatch": {
      const l = obj(o.orMatch) ?? {};
      d.only(l, p, ["valueMatchers"]);
      const any = arr(l.valueMatchers).map((v, i) => valueMatcher(d, v, `${join(p, "value_matchers")}[${i}]`));
      if (any.length < 2) return fail(d, join(p, "value_matchers"), "at least two matchers are required (Envoy)");
      return any.every((x) => x) ? { kind: "or", any: any as ValueMatch[] } : undefined;
    }
  }
  return undefined;
}

/** The members of an and/or set (Envoy's Permission.Set `rules`, Principal.Set `ids`): at least one, all valid. */
function members<T>(
  d: Decoding,
  set: Obj,
  path: string,
  field: "rules" | "ids",
  each: (d: Decoding, o: Obj, path: string) => T | undefined,
): T[] | undefined {
  d.only(set, path, [field]);
  const decoded = arr(set[field]).map((r, i) => each(d, r, `${join(path, field)}[${i}]`));
  if (!decoded.length) return fail(d, join(path, field), `at least one ${field === "rules" ? "rule" : "id"} is required (Envoy)`);
  return decoded.every((r) => r !== undefined) ? (decoded as T[]) : undefined;
}

function fail(d: Decoding, path: string, reason: string): undefined {
  d.fail(path, reason);
  return undefined;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
