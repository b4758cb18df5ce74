/**
 * AuthorizationPolicy (`security.istio.io/v1`, `v1beta1`) -> a validated, proxy-neutral
 * `ParsedAuthorizationPolicy`: every field Istio defines, L4 and L7, as written.
 *
 * This is the one reader of the user's YAML. The ztunnel conversion (authorization-policy.ts)
 * lowers a parsed policy to `istio.security.Authorization`; a waypoint translator can lower
 * the same parsed policy (HTTP attributes included) without reading JSON again.
 *
 * What counts as malformed is what Istio's validating webhook rejects
 * (pkg/config/validation `ValidateAuthorizationPolicy`, pkg/config/security): bad IPs and
 * ports, empty values, bad service accounts or trust domains, unknown `when` keys, an empty
 * `from`/`to`/`source`/`operation`, a DENY or CUSTOM without rules, `provider` without CUSTOM,
 * selector together with targetRefs; plus unknown fields and wrong types (weft reads strictly
 * where the API server would have pruned). Everything the webhook accepts parses, with a
 * warning where the value can never match. Errors name the object and the dotted field path;
 * all of them are reported at once. Pure; no IO.
 */
import type { KubeObject } from "../../kube/object.js";
import { type Json, type ValidationError, Reader, objectName, parseBoolAnnotation, readEnvelope } from "./authorization-policy-schema.js";
import { checkAddresses, checkPorts, checkServiceAccounts, checkTrustDomains, principalWarnings } from "./authorization-policy-values.js";

export const DRY_RUN_ANNOTATION = "istio.io/dry-run";

export type PolicyAction = "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";

/** `from[].source`: each list as written (validated); absent lists are empty. */
export interface ParsedSource {
  readonly principals: readonly string[];
  readonly notPrincipals: readonly string[];
  readonly requestPrincipals: readonly string[];
  readonly notRequestPrincipals: readonly string[];
  readonly namespaces: readonly string[];
  readonly notNamespaces: readonly string[];
  readonly ipBlocks: readonly string[];
  readonly notIpBlocks: readonly string[];
  readonly remoteIpBlocks: readonly string[];
  readonly notRemoteIpBlocks: readonly string[];
  readonly serviceAccounts: readonly string[];
  readonly notServiceAccounts: readonly string[];
  readonly trustDomains: readonly string[];
  readonly notTrustDomains: readonly string[];
}

/** `to[].operation`; ports are decimal strings as the CRD types them. */
export interface ParsedOperation {
  readonly hosts: readonly string[];
  readonly notHosts: readonly string[];
  readonly ports: readonly string[];
  readonly notPorts: readonly string[];
  readonly methods: readonly string[];
  readonly notMethods: readonly string[];
  readonly paths: readonly string[];
  readonly notPaths: readonly string[];
}

export interface ParsedCondition {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
}

export interface ParsedRule {
  /** Undefined when not written (no constraint); never empty when written. */
  readonly from?: readonly ParsedSource[];
  readonly to?: readonly ParsedOperation[];
  readonly when: readonly ParsedCondition[];
}

export interface PolicyTargetRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

export interface ParsedAuthorizationPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly action: PolicyAction;
  /** `provider.name`, only with CUSTOM. */
  readonly provider?: string;
  /** `selector.matchLabels` when non-empty; an empty selector is namespace-wide (see docs). */
  readonly selector?: Readonly<Record<string, string>>;
  /** Set when the policy attaches to waypoints/gateways (`targetRefs`/`targetRef`). */
  readonly targetRefs?: readonly PolicyTargetRef[];
  readonly dryRun: boolean;
  /** Undefined when `rules` is absent or empty (an ALLOW then allows nothing). */
  readonly rules?: readonly ParsedRule[];
}

/**
 * The outcome of parsing. With errors, `policy` is undefined and `reach` says what could still
 * be read about where the policy applies, so the caller can fail closed on exactly that.
 */
export interface ParseOutcome {
  readonly envelope?: { readonly namespace: string; readonly name: string };
  readonly policy?: ParsedAuthorizationPolicy;
  readonly errors: readonly ValidationError[];
  readonly warnings: readonly string[];
  readonly reach: {
    /** `selector.matchLabels` as far as readable; "unreadable" when the selector itself is broken. */
    readonly selector?: Readonly<Record<string, string>> | "unreadable";
    /** `targetRef`/`targetRefs` was written: the policy is meant for waypoints, not ztunnel. */
    readonly targetRefs: boolean;
    readonly dryRun: boolean;
  };
}

const SPEC_FIELDS = ["selector", "targetRef", "targetRefs", "rules", "action", "provider"] as const;
const RULE_FIELDS = ["from", "to", "when"] as const;
export const SOURCE_FIELDS = [
  "principals",
  "notPrincipals",
  "requestPrincipals",
  "notRequestPrincipals",
  "namespaces",
  "notNamespaces",
  "ipBlocks",
  "notIpBlocks",
  "remoteIpBlocks",
  "notRemoteIpBlocks",
  "serviceAccounts",
  "notServiceAccounts",
  "trustDomains",
  "notTrustDomains",
] as const;
export const OPERATION_FIELDS = ["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"] as const;

/** Istio's allowed targetRef kinds (group "" is core). */
const TARGET_KINDS: readonly [string, string][] = [
  ["", "Service"],
  ["networking.istio.io", "ServiceEntry"],
  ["gateway.networking.k8s.io", "Gateway"],
  ["gateway.networking.k8s.io", "GatewayClass"],
];

export function parseAuthorizationPolicy(obj: KubeObject): ParseOutcome {
  const r = new Reader(objectName(obj, "AuthorizationPolicy"));
  const env = readEnvelope(r, obj, "AuthorizationPolicy");
  const spec = r.object(obj.spec, "spec", SPEC_FIELDS) ?? {};
  const warnings: string[] = [];
  const name = env ? `AuthorizationPolicy ${env.namespace}/${env.name}` : r.subject;

  // Istio: a value Go's strconv.ParseBool rejects is logged and the policy is enforced.
  const dryRunText = (obj.metadata?.annotations as Record<string, unknown> | undefined)?.[DRY_RUN_ANNOTATION];
  let dryRun = false;
  if (dryRunText !== undefined && dryRunText !== null && typeof dryRunText !== "string") {
    // The API server rejects non-string annotations; a YAML folder can hold `true` unquoted.
    r.fail(`metadata.annotations["${DRY_RUN_ANNOTATION}"]`, `must be a string, got ${JSON.stringify(dryRunText)} (quote it: "true")`);
    dryRun = dryRunText === true;
  } else if (dryRunText !== undefined && dryRunText !== null && dryRunText !== "") {
    const b = parseBoolAnnotation(dryRunText);
    if (b === undefined)
      warnings.push(
        `${name}: metadata.annotations["${DRY_RUN_ANNOTATION}"]: ${JSON.stringify(dryRunText)} is not a boolean (Go ParseBool); the policy is enforced, as Istio does`,
      );
    else dryRun = b;
  }

  const action = readAction(r, spec.action);
  const provider = readProvider(r, spec, action);
  const errorsBeforeSelector = r.errors.length;
  const selector = readSelector(r, spec.selector, name, warnings);
  const selectorBroken = r.errors.length > errorsBeforeSelector;
  const targetRefsWritten = present(spec.targetRef) || present(spec.targetRefs);
  const targetRefs = readTargetRefs(r, spec, env?.namespace);
  if (present(spec.selector) && targetRefsWritten) r.fail("spec.selector", "only one of selector or targetRefs can be set");

  const rulesRaw = r.list(spec.rules, "spec.rules");
  if ((action === "DENY" || action === "CUSTOM") && (rulesRaw === undefined || rulesRaw.length === 0)) {
    r.fail("spec.rules", `a ${action} policy without rules never matches; add an empty rule \`{}\` to match everything in scope`);
  }
  const rules = (rulesRaw ?? []).map((raw, i) => readRule(r, raw, `spec.rules[${i}]`, name, warnings));
  if (action === "CUSTOM") checkCustom(r, rules);

  const reach = {
    ...(selectorBroken ? { selector: "unreadable" as const } : selector ? { selector } : {}),
    targetRefs: targetRefsWritten,
    dryRun,
  };
  if (!r.clean || !env || !action) return { ...(env ? { envelope: env } : {}), errors: r.errors, warnings, reach };
  const valid = rules.filter((x): x is ParsedRule => x !== undefined);
  return {
    envelope: env,
    errors: [],
    warnings,
    reach,
    policy: {
      namespace: env.namespace,
      name: env.name,
      action,
      ...(provider ? { provider } : {}),
      ...(selector ? { selector } : {}),
      ...(targetRefs ? { targetRefs } : {}),
      dryRun,
      ...(valid.length > 0 ? { rules: valid } : {}),
    },
  };
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function readAction(r: Reader, v: unknown): PolicyAction | undefined {
  const a = v === undefined || v === null ? "ALLOW" : r.string(v, "spec.action");
  if (a === undefined) return undefined;
  if (a === "ALLOW" || a === "DENY" || a === "AUDIT" || a === "CUSTOM") return a;
  return r.fail("spec.action", `unknown action ${JSON.stringify(a)} (allowed: ALLOW, DENY, AUDIT, CUSTOM)`);
}

function readProvider(r: Reader, spec: Json, action: PolicyAction | undefined): string | undefined {
  if (!present(spec.provider)) {
    if (action === "CUSTOM") r.fail("spec.provider.name", "must be set with action CUSTOM");
    return undefined;
  }
  if (action !== "CUSTOM") return r.fail("spec.provider", `only valid with action CUSTOM, found ${action ?? "?"}`);
  const p = r.object(spec.provider, "spec.provider", ["name"]);
  const n = p ? r.string(p.name, "spec.provider.name") : undefined;
  if (p && !n) r.fail("spec.provider.name", "must not be empty");
  return n;
}

/** `selector.matchLabels`; an empty selector selects the whole namespace (warned, as Istio does). */
function readSelector(r: Reader, v: unknown, name: string, warnings: string[]): Record<string, string> | undefined {
  const sel = r.object(v, "spec.selector", ["matchLabels"]);
  if (!sel) return undefined;
  const labels = r.labels(sel.matchLabels, "spec.selector.matchLabels");
  if (labels && Object.keys(labels).length > 0) return labels;
  if (labels || sel.matchLabels === undefined || sel.matchLabels === null)
    warnings.push(`${name}: spec.selector: workload selector specified without labels; the policy applies to the whole namespace`);
  return undefined;
}

export function readTargetRefs(r: Reader, spec: Json, namespace: string | undefined): PolicyTargetRef[] | undefined {
  const raws: [unknown, string][] = [];
  if (present(spec.targetRef)) raws.push([spec.targetRef, "spec.targetRef"]);
  (r.list(spec.targetRefs, "spec.targetRefs") ?? []).forEach((t, i) => raws.push([t, `spec.targetRefs[${i}]`]));
  if (raws.length > 1 && raws[0]![1] === "spec.targetRef") r.fail("spec.targetRef", "only one of targetRef or targetRefs can be set");
  if (raws.length === 0) return undefined;
  const out: PolicyTargetRef[] = [];
  for (const [raw, path] of raws) {
    const t = r.object(raw, path, ["group", "kind", "name", "namespace"]);
    if (!t) {
      if (raw === null) r.fail(path, "must not be null");
      continue;
    }
    const kind = r.string(t.kind, `${path}.kind`);
    const name = r.string(t.name, `${path}.name`);
    const group = r.string(t.group, `${path}.group`) ?? "";
    const ns = r.string(t.namespace, `${path}.namespace`);
    if (!name) r.fail(`${path}.name`, "must be set");
    if (ns !== undefined && ns !== "" && ns !== namespace) r.fail(`${path}.namespace`, "cross-namespace policy targets are not supported");
    if (!TARGET_KINDS.some(([g, k]) => g === group && k === kind))
      r.fail(
        `${path}.kind`,
        `must be one of ${TARGET_KINDS.map(([g, k]) => (g ? `${g}/${k}` : k)).join(", ")}, got ${JSON.stringify(`${group ? `${group}/` : ""}${kind ?? ""}`)}`,
      );
    else if (name) out.push({ group, kind: kind!, name });
  }
  return out;
}

function readRule(r: Reader, raw: unknown, path: string, name: string, warnings: string[]): ParsedRule | undefined {
  if (raw === null) return r.fail(path, "must not be null");
  const rule = r.object(raw, path, RULE_FIELDS);
  if (!rule) return undefined;
  const fromRaw = r.list(rule.from, `${path}.from`);
  if (fromRaw && fromRaw.length === 0) r.fail(`${path}.from`, "must not be empty when set");
  const toRaw = r.list(rule.to, `${path}.to`);
  if (toRaw && toRaw.length === 0) r.fail(`${path}.to`, "must not be empty when set");
  const from = fromRaw?.map((f, i) => readSource(r, f, `${path}.from[${i}]`, name, warnings));
  const to = toRaw?.map((t, i) => readOperation(r, t, `${path}.to[${i}]`, warnings, name));
  const when = (r.list(rule.when, `${path}.when`) ?? []).map((c, i) => readCondition(r, c, `${path}.when[${i}]`, name, warnings));
  return {
    ...(from && from.length > 0 ? { from: from.filter((x): x is ParsedSource => x !== undefined) } : {}),
    ...(to && to.length > 0 ? { to: to.filter((x): x is ParsedOperation => x !== undefined) } : {}),
    when: when.filter((x): x is ParsedCondition => x !== undefined),
  };
}

function readSource(r: Reader, raw: unknown, path: string, name: string, warnings: string[]): ParsedSource | undefined {
  if (raw === null) return r.fail(path, "must not be null");
  const from = r.object(raw, path, ["source"]);
  if (!from) return r.fail(path, "must be an object with `source`");
  const p = `${path}.source`;
  const src = r.object(from.source, p, SOURCE_FIELDS);
  if (!src) return r.fail(p, "must be set");
  const v = Object.fromEntries(SOURCE_FIELDS.map((f) => [f, r.strings(src[f], `${p}.${f}`) ?? []])) as Record<
    (typeof SOURCE_FIELDS)[number],
    string[]
  >;
  if (SOURCE_FIELDS.every((f) => !Array.isArray(src[f]) || (src[f] as unknown[]).length === 0)) return r.fail(p, "must not be empty");
  if (
    v.principals.length + v.notPrincipals.length + v.namespaces.length + v.notNamespaces.length > 0 &&
    v.serviceAccounts.length + v.notServiceAccounts.length > 0
  )
    r.fail(`${p}.serviceAccounts`, "cannot be combined with principals or namespaces in one source");
  for (const f of ["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"] as const) checkAddresses(r, v[f], `${p}.${f}`);
  for (const f of ["serviceAccounts", "notServiceAccounts"] as const) checkServiceAccounts(r, v[f], `${p}.${f}`);
  for (const f of ["trustDomains", "notTrustDomains"] as const) checkTrustDomains(r, v[f], `${p}.${f}`);
  for (const f of ["principals", "notPrincipals"] as const) warnings.push(...principalWarnings(v[f], `${name}: ${p}.${f}`));
  return v;
}

function readOperation(r: Reader, raw: unknown, path: string, warnings: string[], name: string): ParsedOperation | undefined {
  if (raw === null) return r.fail(path, "must not be null");
  const to = r.object(raw, path, ["operation"]);
  if (!to) return r.fail(path, "must be an object with `operation`");
  const p = `${path}.operation`;
  const op = r.object(to.operation, p, OPERATION_FIELDS);
  if (!op) return r.fail(p, "must be set");
  // Ports may be written as YAML integers; the CRD types them as strings.
  const asText = (v: unknown) => (Array.isArray(v) ? v.map((e) => (typeof e === "number" ? String(e) : e)) : v);
  const v = Object.fromEntries(
    OPERATION_FIELDS.map((f) => [f, r.strings(f === "ports" || f === "notPorts" ? asText(op[f]) : op[f], `${p}.${f}`) ?? []]),
  ) as Record<(typeof OPERATION_FIELDS)[number], string[]>;
  if (OPERATION_FIELDS.every((f) => !Array.isArray(op[f]) || (op[f] as unknown[]).length === 0)) return r.fail(p, "must not be empty");
  checkPorts(r, v.ports, `${p}.ports`, warnings, name);
  checkPorts(r, v.notPorts, `${p}.notPorts`, warnings, name);
  for (const f of ["paths", "notPaths"] as const) v[f].forEach((s, i) => checkPathTemplate(r, s, `${p}.${f}[${i}]`));
  return v;
}

/** `when` keys Istio defines, and which of them ztunnel's conversion keeps (the rest are HTTP). */
export const L4_WHEN_KEYS: ReadonlySet<string> = new Set([
  "source.ip",
  "source.namespace",
  "source.principal",
  "destination.ip",
  "destination.port",
]);
const OTHER_WHEN_KEYS = new Set([
  "remote.ip",
  "source.serviceAccount",
  "source.trustDomain",
  "request.auth.principal",
  "request.auth.audiences",
  "request.auth.presenter",
  "connection.sni",
]);
const MAP_KEY_PREFIXES = ["request.headers", "request.auth.claims", "experimental.envoy.filters."];

function readCondition(r: Reader, raw: unknown, path: string, name: string, warnings: string[]): ParsedCondition | undefined {
  if (raw === null) return r.fail(path, "must not be null");
  const c = r.object(raw, path, ["key", "values", "notValues"]);
  if (!c) return r.fail(path, "must be an object with `key` and `values` or `notValues`");
  const key = r.string(c.key, `${path}.key`);
  const values = r.strings(c.values, `${path}.values`) ?? [];
  const notValues = r.strings(c.notValues, `${path}.notValues`) ?? [];
  if (!key) return r.fail(`${path}.key`, "must not be empty");
  if (values.length === 0 && notValues.length === 0) return r.fail(path, `at least one of values or notValues must be set for key ${key}`);
  const mapKey = MAP_KEY_PREFIXES.find((pre) => key.startsWith(pre));
  if (mapKey) {
    const open = key.indexOf("[");
    if (!(key.endsWith("]") && open > 0 && open < key.length - 2))
      return r.fail(`${path}.key`, `bad key ${JSON.stringify(key)}: should have format a[b]`);
  } else if (key === "destination.namespace") return r.fail(`${path}.key`, `attribute ${key} is replaced by metadata.namespace`);
  else if (key.startsWith("destination.labels")) return r.fail(`${path}.key`, `attribute ${key} is replaced by the workload selector`);
  else if (key === "destination.name" || key === "destination.user")
    return r.fail(`${path}.key`, `deprecated attribute ${key}: only supported in v1alpha1`);
  else if (!L4_WHEN_KEYS.has(key) && !OTHER_WHEN_KEYS.has(key)) return r.fail(`${path}.key`, `unknown attribute ${JSON.stringify(key)}`);
  for (const [list, which] of [
    [values, "values"],
    [notValues, "notValues"],
  ] as const) {
    const q = `${path}.${which}`;
    if (key === "source.ip" || key === "remote.ip" || key === "destination.ip") checkAddresses(r, list, q);
    else if (key === "destination.port") checkPorts(r, list, q, warnings, name);
    else if (key === "source.serviceAccount") checkServiceAccounts(r, list, q);
    else if (key === "source.trustDomain") checkTrustDomains(r, list, q, false);
    else if (key === "source.principal") warnings.push(...principalWarnings(list, `${name}: ${q}`));
  }
  return { key, values, notValues };
}

/** CUSTOM (external authorization) supports only request attributes the provider sees (Istio's rule). */
function checkCustom(r: Reader, rules: readonly (ParsedRule | undefined)[]): void {
  const identityFields = [
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
  ] as const;
  rules.forEach((rule, i) => {
    rule?.from?.forEach((s, j) => {
      for (const f of identityFields)
        if (s[f].length > 0) r.fail(`spec.rules[${i}].from[${j}].source.${f}`, "is currently not supported with action CUSTOM");
    });
    rule?.when.forEach((c, j) => {
      const k = c.key;
      if (
        ["source.namespace", "source.serviceAccount", "source.trustDomain", "source.principal"].includes(k) ||
        k.startsWith("request.auth.")
      )
        r.fail(`spec.rules[${i}].when[${j}].key`, `${k} is currently not supported with action CUSTOM`);
    });
  });
}

/** Istio's path template check: `{*}` anywhere, `{**}` only last, no other braces. */
function checkPathTemplate(r: Reader, path: string, field: string): void {
  const templated = path.includes("{*}") || path.includes("{**}");
  const globs = path.replace(/^\/+|\/+$/g, "").split("/");
  let anySeen = false;
  for (const g of globs) {
    if (g === "{*}" && !anySeen) continue;
    if (g === "{**}" && !anySeen) {
      anySeen = true;
      continue;
    }
    if ((g === "{*}" || g === "{**}") && anySeen) {
      r.fail(field, `invalid path ${JSON.stringify(path)}: {**} must be the last operator`);
      return;
    }
    if (/[{}]/.test(g)) {
      r.fail(field, `invalid path ${JSON.stringify(path)}: contains '{' or '}' beyond a supported path template`);
      return;
    }
    if (templated && !/^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/.test(g)) {
      r.fail(field, `invalid path ${JSON.stringify(path)}: segment ${JSON.stringify(g)} is not a valid literal`);
      return;
    }
  }
}
