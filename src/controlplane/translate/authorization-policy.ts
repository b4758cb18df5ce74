/**
 * AuthorizationPolicy (`security.istio.io/v1`, `v1beta1`) -> the L4 `Authorization` ztunnel
 * enforces.
 *
 * Invariants:
 * - Strict: unknown fields, malformed values and unsupported actions are errors naming the
 *   dotted field path; an invalid policy yields no output at all (never a partial policy and
 *   never an allow-all).
 * - Structure follows Istio's ambient conversion: per rule one clause for `to` (its entries
 *   ORed), one for `from`, one per `when` condition; clauses are ANDed, rules ORed.
 * - L7 attributes (HTTP operations, requestPrincipals, non-L4 `when` keys): in an ALLOW the
 *   whole rule is dropped (it can only allow through a waypoint); in a DENY the L7 parts are
 *   dropped and the rule denies on its L4 parts alone, which denies more than written. Both
 *   produce a warning naming the policy and fields (docs/authorization.md).
 * - ipBlocks and remoteIpBlocks both test the connection's source IP: at L4 there is no
 *   X-Forwarded-For, so the remote address is the peer address.
 * Pure; no IO.
 */
import type {
  AddressMatch,
  Authorization,
  AuthorizationAction,
  AuthorizationScope,
  Clause,
  Match,
  Rule,
} from "../../common/model/authorization.js";
import { authorizationKey } from "../../common/model/authorization.js";
import { type Result, ok, err } from "../../common/result.js";
import type { KubeObject } from "../../kube/object.js";
import { type Json, type ValidationError, Reader, objectName, parseBoolAnnotation, readEnvelope } from "./authorization-policy-schema.js";
import { addressMatch, convertAll, namespaceMatch, portList, principalMatch, serviceAccountMatch } from "./authorization-policy-values.js";
import { emptyMatch, intersectAddresses } from "./authorization-policy-match.js";

export const DRY_RUN_ANNOTATION = "istio.io/dry-run";

export interface TranslateOptions {
  /** Istio's root namespace (istio-system by default): selector-less policies there are mesh-wide. */
  readonly rootNamespace: string;
  /** Mesh trust domain; `cluster.local` in principals is rewritten to it. */
  readonly trustDomain?: string;
}

/** A Gateway API policy attachment (`targetRefs`): the policy is for a waypoint or gateway. */
export interface PolicyTargetRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

export interface TranslatedAuthorizationPolicy {
  /** `namespace/name`: the xDS resource name and the name workloads list in `authorizationPolicies`. */
  readonly key: string;
  /** The action as written; AUDIT policies have no `authorization` (ztunnel has no audit sink). */
  readonly action: "ALLOW" | "DENY" | "AUDIT";
  /** What ztunnel enforces; undefined for AUDIT. */
  readonly authorization?: Authorization;
  /** `matchLabels` of a WORKLOAD_SELECTOR policy bound by selector (see authorization-policy-binding.ts). */
  readonly selector?: Readonly<Record<string, string>>;
  /** Set when the policy attaches to waypoints/gateways instead of pods by selector. */
  readonly targetRefs?: readonly PolicyTargetRef[];
  /** Accepted-with-warning conditions, each naming the policy and field. */
  readonly warnings: readonly string[];
}

const SPEC_FIELDS = ["selector", "targetRef", "targetRefs", "rules", "action", "provider"] as const;
const RULE_FIELDS = ["from", "to", "when"] as const;
const SOURCE_FIELDS = [
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
] as const;
const OPERATION_FIELDS = ["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"] as const;
const L7_SOURCE_FIELDS = ["requestPrincipals", "notRequestPrincipals"];
const L7_OPERATION_FIELDS = ["hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"];

/** `when` keys ztunnel evaluates, and what they compare. `remote.ip` is the peer IP at L4. */
const L4_WHEN_KEYS = new Set(["source.ip", "remote.ip", "source.namespace", "source.principal", "destination.ip", "destination.port"]);
/**
 * Keys Istio defines that need a waypoint. `connection.sni` is here too: HBONE carries no SNI
 * and ztunnel does not parse the tunnelled bytes; `source.serviceAccount` follows upstream.
 */
const L7_WHEN_EXACT = new Set([
  "request.auth.principal",
  "request.auth.audiences",
  "request.auth.presenter",
  "source.serviceAccount",
  "connection.sni",
]);
const L7_WHEN_PATTERN = /^(request\.headers\[[^\]]+\]|request\.auth\.claims\[.+\]|experimental\.envoy\.filters\..+)$/;

interface RuleContext {
  readonly r: Reader;
  readonly action: AuthorizationAction;
  readonly namespace: string;
  readonly trustDomain: string | undefined;
  readonly warnings: string[];
}

export function translateAuthorizationPolicy(
  obj: KubeObject,
  opts: TranslateOptions,
): Result<TranslatedAuthorizationPolicy, ValidationError[]> {
  const r = new Reader(objectName(obj, "AuthorizationPolicy"));
  const env = readEnvelope(r, obj, "AuthorizationPolicy");
  const spec = r.object(obj.spec, "spec", SPEC_FIELDS) ?? {};
  const warnings: string[] = [];

  const dryRunText = obj.metadata?.annotations?.[DRY_RUN_ANNOTATION];
  let dryRun = false;
  if (dryRunText !== undefined) {
    const b = parseBoolAnnotation(dryRunText);
    if (b === undefined)
      r.fail(`metadata.annotations["${DRY_RUN_ANNOTATION}"]`, `${JSON.stringify(dryRunText)} is not a boolean ("true" or "false")`);
    else dryRun = b;
  }

  const action = readAction(r, spec);
  const selector = readSelector(r, spec.selector);
  const targetRefs = readTargetRefs(r, spec, env?.namespace);
  if (selector && targetRefs) r.fail("spec.selector", "only one of selector or targetRefs can be set");

  const rulesRaw = r.list(spec.rules, "spec.rules");
  if (action === "DENY" && (rulesRaw === undefined || rulesRaw.length === 0)) {
    r.fail("spec.rules", "a DENY policy without rules never matches; add an empty rule `{}` to deny everything in scope");
  }
  const name = env ? `AuthorizationPolicy ${env.namespace}/${env.name}` : r.subject;
  const enforced: AuthorizationAction = action === "DENY" ? "DENY" : "ALLOW";
  const ctx: RuleContext = { r, action: enforced, namespace: env?.namespace ?? "", trustDomain: opts.trustDomain, warnings };
  const rules: Rule[] = [];
  (rulesRaw ?? []).forEach((raw, i) => {
    const rule = translateRule(ctx, raw, `spec.rules[${i}]`, name);
    if (rule) rules.push(rule);
  });

  if (!r.clean || !env || !action) return err(r.errors);
  if (action === "ALLOW" && (rulesRaw ?? []).length === 0) {
    warnings.push(`${name}: spec.rules: an ALLOW policy without rules allows nothing; every connection in its scope is denied`);
  }
  const key = authorizationKey(env);
  const base = { key, action, warnings, ...(selector ? { selector } : {}), ...(targetRefs ? { targetRefs } : {}) };
  if (action === "AUDIT") {
    warnings.push(`${name}: spec.action: AUDIT is accepted but only logged; ztunnel has no audit sink, so it does not affect traffic`);
    return ok(base);
  }
  const scope: AuthorizationScope =
    selector || targetRefs ? "WORKLOAD_SELECTOR" : env.namespace === opts.rootNamespace ? "GLOBAL" : "NAMESPACE";
  return ok({ ...base, authorization: { name: env.name, namespace: env.namespace, scope, action, rules, dryRun } });
}

function readAction(r: Reader, spec: Json): "ALLOW" | "DENY" | "AUDIT" | undefined {
  const a = spec.action === undefined || spec.action === null ? "ALLOW" : r.string(spec.action, "spec.action");
  if (spec.provider !== undefined && spec.provider !== null && a !== "CUSTOM") r.fail("spec.provider", "only valid with action CUSTOM");
  switch (a) {
    case "ALLOW":
    case "DENY":
    case "AUDIT":
      return a;
    case "CUSTOM":
      return r.fail(
        "spec.action",
        "CUSTOM is not supported at L4: ztunnel cannot call an external authorizer; bind the policy to a waypoint with targetRefs",
      );
    case undefined:
      return undefined;
    default:
      return r.fail("spec.action", `unknown action ${JSON.stringify(a)} (allowed: ALLOW, DENY, AUDIT, CUSTOM)`);
  }
}

/** `selector.matchLabels`; an empty selector selects the whole namespace, like no selector. */
function readSelector(r: Reader, v: unknown): Record<string, string> | undefined {
  const sel = r.object(v, "spec.selector", ["matchLabels"]);
  if (!sel) return undefined;
  const labels = r.labels(sel.matchLabels, "spec.selector.matchLabels");
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

function readTargetRefs(r: Reader, spec: Json, namespace: string | undefined): PolicyTargetRef[] | undefined {
  const raws: [unknown, string][] = [];
  if (spec.targetRef !== undefined && spec.targetRef !== null) raws.push([spec.targetRef, "spec.targetRef"]);
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
    if (!kind) r.fail(`${path}.kind`, "must be set");
    if (!name) r.fail(`${path}.name`, "must be set");
    if (ns !== undefined && ns !== namespace) r.fail(`${path}.namespace`, "cross-namespace policy targets are not allowed");
    if (kind && name) out.push({ group, kind, name });
  }
  return out;
}

function translateRule(ctx: RuleContext, raw: unknown, path: string, name: string): Rule | undefined {
  const { r } = ctx;
  if (raw === null) return r.fail(path, "must not be null");
  const rule = r.object(raw, path, RULE_FIELDS);
  if (!rule) return undefined;
  const l7: string[] = [];
  const clauses: Clause[] = [];

  const to = r.list(rule.to, `${path}.to`);
  if (to && to.length === 0) r.fail(`${path}.to`, "must not be empty when set");
  if (to && to.length > 0) {
    const matches = to.map((t, i) => translateOperation(ctx, t, `${path}.to[${i}]`, l7)).filter((m): m is Match => m !== undefined);
    clauses.push({ matches });
  }
  const from = r.list(rule.from, `${path}.from`);
  if (from && from.length === 0) r.fail(`${path}.from`, "must not be empty when set");
  if (from && from.length > 0) {
    const matches = from.map((f, i) => translateSource(ctx, f, `${path}.from[${i}]`, l7)).filter((m): m is Match | null => m !== undefined);
    // null marks a source that can never match (disjoint ipBlocks and remoteIpBlocks).
    clauses.push({ matches: matches.filter((m): m is Match => m !== null) });
  }
  (r.list(rule.when, `${path}.when`) ?? []).forEach((c, i) => {
    const clause = translateCondition(ctx, c, `${path}.when[${i}]`, l7);
    if (clause) clauses.push(clause);
  });

  if (l7.length === 0) return { clauses };
  const fields = l7.join(", ");
  if (ctx.action === "ALLOW") {
    ctx.warnings.push(
      `${name}: ${path}: HTTP attributes (${fields}) need a waypoint; ztunnel drops this ALLOW rule, so it allows nothing at L4`,
    );
    return undefined;
  }
  ctx.warnings.push(
    `${name}: ${path}: HTTP attributes (${fields}) need a waypoint; ztunnel enforces this DENY rule on its L4 parts only, so it denies every matching connection, not just the HTTP requests described`,
  );
  return { clauses };
}

function translateOperation(ctx: RuleContext, raw: unknown, path: string, l7: string[]): Match | undefined {
  const { r } = ctx;
  const to = r.object(raw, path, ["operation"]);
  if (!to) return r.fail(path, "must be an object with `operation`");
  const op = r.object(to.operation, `${path}.operation`, OPERATION_FIELDS);
  if (!op) return r.fail(`${path}.operation`, "must be set");
  const lists = Object.fromEntries(L7_OPERATION_FIELDS.map((f) => [f, r.strings(op[f], `${path}.operation.${f}`)]));
  const ports = portList(r, op.ports, `${path}.operation.ports`);
  const notPorts = portList(r, op.notPorts, `${path}.operation.notPorts`);
  const present = L7_OPERATION_FIELDS.filter((f) => (lists[f]?.length ?? 0) > 0);
  // Judged on what was written, so an invalid port does not also read as an empty operation.
  if (OPERATION_FIELDS.every((f) => !Array.isArray(op[f]) || (op[f] as unknown[]).length === 0))
    return r.fail(`${path}.operation`, "must not be empty");
  for (const f of present) l7.push(`${path.slice(path.indexOf(".") + 1)}.operation.${f}`);
  return { ...emptyMatch, destinationPorts: ports ?? [], notDestinationPorts: notPorts ?? [] };
}

/** A Match, `null` for a source that can never match, or undefined on error. */
function translateSource(ctx: RuleContext, raw: unknown, path: string, l7: string[]): Match | null | undefined {
  const { r } = ctx;
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
  ) {
    return r.fail(`${p}.serviceAccounts`, "cannot be combined with principals or namespaces in one source");
  }
  for (const f of L7_SOURCE_FIELDS) if (v[f as keyof typeof v].length > 0) l7.push(`${p.slice(p.indexOf(".") + 1)}.${f}`);
  const td = ctx.trustDomain;
  const addr = (f: keyof typeof v): AddressMatch[] => convertAll(v[f], `${p}.${f}`, (s, q) => addressMatch(r, s, q, ctx.warnings));
  const ipBlocks = addr("ipBlocks");
  const remoteIpBlocks = addr("remoteIpBlocks");
  let sourceIps = ipBlocks.length > 0 ? ipBlocks : remoteIpBlocks;
  if (ipBlocks.length > 0 && remoteIpBlocks.length > 0) {
    // Both name the peer IP at L4 and are ANDed: only their intersection can match.
    sourceIps = intersectAddresses(ipBlocks, remoteIpBlocks);
    if (sourceIps.length === 0) {
      ctx.warnings.push(
        `${r.subject}: ${p}: ipBlocks and remoteIpBlocks do not overlap; both test the peer IP at L4, so this source never matches`,
      );
      return null;
    }
  }
  return {
    namespaces: convertAll(v.namespaces, `${p}.namespaces`, (s, q) => namespaceMatch(r, s, q)),
    notNamespaces: convertAll(v.notNamespaces, `${p}.notNamespaces`, (s, q) => namespaceMatch(r, s, q)),
    principals: convertAll(v.principals, `${p}.principals`, (s, q) => principalMatch(r, s, q, td)),
    notPrincipals: convertAll(v.notPrincipals, `${p}.notPrincipals`, (s, q) => principalMatch(r, s, q, td)),
    sourceIps,
    notSourceIps: [...addr("notIpBlocks"), ...addr("notRemoteIpBlocks")],
    destinationIps: [],
    notDestinationIps: [],
    destinationPorts: [],
    notDestinationPorts: [],
    serviceAccounts: convertAll(v.serviceAccounts, `${p}.serviceAccounts`, (s, q) => serviceAccountMatch(r, s, q, ctx.namespace)),
    notServiceAccounts: convertAll(v.notServiceAccounts, `${p}.notServiceAccounts`, (s, q) => serviceAccountMatch(r, s, q, ctx.namespace)),
  };
}

/** One `when` condition -> one clause; undefined for an L7 key (recorded in `l7`) or on error. */
function translateCondition(ctx: RuleContext, raw: unknown, path: string, l7: string[]): Clause | undefined {
  const { r } = ctx;
  const c = r.object(raw, path, ["key", "values", "notValues"]);
  if (!c) return r.fail(path, "must be an object with `key` and `values` or `notValues`");
  const key = r.string(c.key, `${path}.key`);
  const values = r.strings(c.values, `${path}.values`) ?? [];
  const notValues = r.strings(c.notValues, `${path}.notValues`) ?? [];
  if (!key) return r.fail(`${path}.key`, "must be set");
  if (values.length === 0 && notValues.length === 0) return r.fail(path, `at least one of values or notValues must be set for key ${key}`);
  if (!L4_WHEN_KEYS.has(key)) {
    if (L7_WHEN_EXACT.has(key) || L7_WHEN_PATTERN.test(key)) {
      l7.push(`${path.slice(path.indexOf(".") + 1)} ${key}`);
      return undefined;
    }
    return r.fail(`${path}.key`, `unknown attribute ${JSON.stringify(key)}`);
  }
  const m: { -readonly [K in keyof Match]: Match[K] } = { ...emptyMatch };
  const conv = <T>(list: string[], which: string, f: (s: string, q: string) => T | undefined) => convertAll(list, `${path}.${which}`, f);
  const both = <T>(f: (s: string, q: string) => T | undefined): [T[], T[]] => [conv(values, "values", f), conv(notValues, "notValues", f)];
  switch (key) {
    case "source.ip":
    case "remote.ip":
      [m.sourceIps, m.notSourceIps] = both((s, q) => addressMatch(r, s, q, ctx.warnings));
      break;
    case "destination.ip":
      [m.destinationIps, m.notDestinationIps] = both((s, q) => addressMatch(r, s, q, ctx.warnings));
      break;
    case "destination.port":
      m.destinationPorts = portList(r, values, `${path}.values`) ?? [];
      m.notDestinationPorts = portList(r, notValues, `${path}.notValues`) ?? [];
      break;
    case "source.namespace":
      [m.namespaces, m.notNamespaces] = both((s, q) => namespaceMatch(r, s, q));
      break;
    case "source.principal":
      [m.principals, m.notPrincipals] = both((s, q) => principalMatch(r, s, q, ctx.trustDomain));
      break;
  }
  return { matches: [m] };
}
