/**
 * AuthorizationPolicy -> the L4 `istio.security.Authorization` ztunnel enforces, converted as
 * Istio's ambient control plane converts it (pilot/pkg/serviceregistry/ambient/authorization.go
 * `convertAuthorizationPolicy`, `handleRule`), with Istio's status messages as warnings.
 *
 * Invariants:
 * - Parsing and validation live in authorization-policy-parse.ts; this module only lowers a
 *   parsed policy. A malformed policy is never dropped: it becomes a DENY of everything in the
 *   scope it was written for (fail closed), named like the policy so selector binding finds it,
 *   and its errors are returned (`errors`) for the operator.
 * - The wire meaning is upstream ztunnel's (src/proxy/authz/compile.ts): per rule one clause
 *   for `to`, one for `from`, one per `when` condition; an empty match `{}` never matches.
 * - Attributes ztunnel cannot check (HTTP operations, requestPrincipals, remoteIpBlocks,
 *   non-L4 `when` keys), in mode "istio" (the default): an ALLOW rule that has them is
 *   dropped; in a DENY they are left out of their match, which then may be `{}` and never
 *   match (so an HTTP-only DENY does nothing at ztunnel). `trustDomains` are ignored, as
 *   Istio's converter ignores them.
 * - Mode "strict" (opt-in, `--authz-l4-mode=strict`): such attributes never make a policy
 *   weaker than written. A DENY (and a CUSTOM, enforced as a DENY) reads them as matching, so
 *   it is enforced on its L4 parts alone; `trustDomains` count among them.
 * - Policies with targetRefs are for waypoints: parsed and returned, never sent to ztunnel.
 * Pure; no IO.
 */
import type { Authorization, AuthorizationAction, AuthorizationScope, Clause, Match, Rule } from "../../common/model/authorization.js";
import { authorizationKey } from "../../common/model/authorization.js";
import { type Result, ok, err } from "../../common/result.js";
import type { KubeObject } from "../../kube/object.js";
import type { ValidationError } from "./authorization-policy-schema.js";
import { formatValidationError } from "./authorization-policy-schema.js";
import {
  type ParsedAuthorizationPolicy,
  type ParsedCondition,
  type ParsedOperation,
  type ParsedRule,
  type ParsedSource,
  type PolicyAction,
  type PolicyTargetRef,
  L4_WHEN_KEYS,
  parseAuthorizationPolicy,
} from "./authorization-policy-parse.js";
import { addressOf, portsOf, serviceAccountOf, stringMatch } from "./authorization-policy-values.js";
import { emptyMatch } from "./authorization-policy-match.js";

export { DRY_RUN_ANNOTATION, type PolicyTargetRef } from "./authorization-policy-parse.js";

/** How attributes ztunnel cannot check are read; see the module header and docs/authorization.md. */
export type AuthzL4Mode = "istio" | "strict";

export interface TranslateOptions {
  /** Istio's root namespace (istio-system by default): selector-less policies there are mesh-wide. */
  readonly rootNamespace: string;
  /** Mesh trust domain; only used to warn about `cluster.local` principals, which ambient does not rewrite. */
  readonly trustDomain?: string;
  /** Default "istio". */
  readonly l4Mode?: AuthzL4Mode;
}

export interface TranslatedAuthorizationPolicy {
  /** `namespace/name`: the xDS resource name and the name workloads list in `authorizationPolicies`. */
  readonly key: string;
  /** The action as written (for a malformed policy, as far as readable). */
  readonly action: PolicyAction;
  /** What ztunnel enforces; undefined when nothing is sent to ztunnel (AUDIT, CUSTOM, targetRefs). */
  readonly authorization?: Authorization;
  /** `matchLabels` of a WORKLOAD_SELECTOR policy bound by selector (see authorization-policy-binding.ts). */
  readonly selector?: Readonly<Record<string, string>>;
  /** Set when the policy attaches to waypoints/gateways instead of pods by selector. */
  readonly targetRefs?: readonly PolicyTargetRef[];
  /** The validated policy, every attribute included, for a waypoint to lower; undefined when malformed. */
  readonly policy?: ParsedAuthorizationPolicy;
  /** Non-empty when the policy is malformed: `authorization` is then the fail-closed DENY. */
  readonly errors: readonly ValidationError[];
  /** Accepted-with-warning conditions (Istio's status messages among them), each naming the policy. */
  readonly warnings: readonly string[];
}

/**
 * Translates one AuthorizationPolicy. `err` only when not even its namespace and name can be
 * read (then nothing can be targeted); every other problem yields a fail-closed result.
 */
export function translateAuthorizationPolicy(
  obj: KubeObject,
  opts: TranslateOptions,
): Result<TranslatedAuthorizationPolicy, ValidationError[]> {
  const parsed = parseAuthorizationPolicy(obj);
  const env = parsed.envelope;
  if (!env) return err([...parsed.errors]);
  const key = authorizationKey(env);
  const name = `AuthorizationPolicy ${key}`;
  const warnings = [...parsed.warnings];
  if (!parsed.policy) return ok(failClosed(obj, parsed.reach, env, key, name, parsed.errors, warnings, opts));

  const p = parsed.policy;
  const base = {
    key,
    action: p.action,
    errors: [],
    warnings,
    policy: p,
    ...(p.selector ? { selector: p.selector } : {}),
    ...(p.targetRefs ? { targetRefs: p.targetRefs } : {}),
  };
  if (p.targetRefs) return ok(base);
  const mode = opts.l4Mode ?? "istio";
  let action: AuthorizationAction;
  if (p.action === "ALLOW" || p.action === "DENY") action = p.action;
  else if (p.action === "CUSTOM" && mode === "strict") {
    action = "DENY";
    warnings.push(
      `${name}: spec.action: ztunnel cannot call the external authorizer ${JSON.stringify(p.provider)}; with --authz-l4-mode=strict this CUSTOM policy is enforced as a DENY of everything its rules match`,
    );
  } else {
    // Istio: "ztunnel does not support the <action> action"; nothing is sent to ztunnel.
    warnings.push(
      `${name}: spec.action: ztunnel does not support the ${p.action} action; ${p.action === "CUSTOM" ? "bind it to a waypoint with targetRefs to enforce it (or use --authz-l4-mode=strict to deny what it matches)" : "it has no effect on traffic"}`,
    );
    return ok(base);
  }

  const unchecked = new Set<string>();
  const rules: Rule[] = [];
  for (const rule of p.rules ?? []) {
    const lowered = lowerRule(rule, action, p.namespace, mode, unchecked, warnings, name);
    if (lowered) rules.push(lowered);
  }
  if (action === "ALLOW" && !p.rules) {
    warnings.push(`${name}: spec.rules: an ALLOW policy without rules allows nothing; every connection in its scope is denied`);
  }
  if (unchecked.size > 0) warnings.push(uncheckedMessage(name, action, mode, [...unchecked].sort(), rules));
  trustDomainWarnings(p, opts, warnings, name);
  return ok({
    ...base,
    authorization: { name: p.name, namespace: p.namespace, scope: scopeOf(p.selector, p.namespace, opts), action, rules, dryRun: p.dryRun },
  });
}

function scopeOf(selector: unknown, namespace: string, opts: TranslateOptions): AuthorizationScope {
  return selector ? "WORKLOAD_SELECTOR" : namespace === opts.rootNamespace ? "GLOBAL" : "NAMESPACE";
}

/** A malformed policy: DENY everything it could have applied to, so it never widens access. */
function failClosed(
  obj: KubeObject,
  reach: ReturnType<typeof parseAuthorizationPolicy>["reach"],
  env: { namespace: string; name: string },
  key: string,
  name: string,
  errors: readonly ValidationError[],
  warnings: string[],
  opts: TranslateOptions,
): TranslatedAuthorizationPolicy {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const action: PolicyAction = ["DENY", "AUDIT", "CUSTOM"].includes(spec.action as string) ? (spec.action as PolicyAction) : "ALLOW";
  const problems = errors.map(formatValidationError).join("; ");
  const base = { key, action, errors, warnings };
  if (reach.targetRefs) {
    warnings.push(`${name}: malformed (${problems}); it targets waypoints, so nothing is sent to ztunnel; its waypoints must deny`);
    return base;
  }
  if (action === "AUDIT") {
    warnings.push(`${name}: malformed (${problems}); an AUDIT policy never affects traffic, so nothing is enforced`);
    return base;
  }
  const selector = reach.selector === "unreadable" ? undefined : reach.selector;
  const scope = scopeOf(selector, env.namespace, opts);
  const where =
    scope === "WORKLOAD_SELECTOR"
      ? "the workloads its selector matches"
      : scope === "GLOBAL"
        ? "every workload in the mesh"
        : `every workload in namespace ${env.namespace}`;
  warnings.push(
    `${name}: malformed, failing closed: connections to ${where} are denied${reach.dryRun ? " (dry-run: only logged)" : ""} until it is fixed: ${problems}`,
  );
  return {
    ...base,
    ...(selector ? { selector } : {}),
    authorization: { name: env.name, namespace: env.namespace, scope, action: "DENY", rules: [{ clauses: [] }], dryRun: reach.dryRun },
  };
}

/** Fields of a source or operation that ztunnel cannot check (Istio's `httpSources`/`httpOperations`). */
const HTTP_SOURCE_FIELDS = ["remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"] as const;
const HTTP_OPERATION_FIELDS = ["hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"] as const;
const TRUST_DOMAIN_FIELDS = ["trustDomains", "notTrustDomains"] as const;

interface Lowered {
  readonly match: Match;
  /** The entry had attributes ztunnel cannot check, left out of `match`. */
  readonly partial: boolean;
}

/** Istio's `handleRule`, plus the strict reading. `undefined` drops the rule. */
function lowerRule(
  rule: ParsedRule,
  action: AuthorizationAction,
  namespace: string,
  mode: AuthzL4Mode,
  unchecked: Set<string>,
  warnings: string[],
  name: string,
): Rule | undefined {
  const clauses: Lowered[][] = [];
  if (rule.to) clauses.push(rule.to.map((op) => lowerOperation(op, unchecked)));
  if (rule.from) clauses.push(rule.from.map((s) => lowerSource(s, namespace, mode, unchecked, warnings, name)));
  for (const c of rule.when) clauses.push([lowerCondition(c, unchecked)]);
  const partial = clauses.some((cl) => cl.some((m) => m.partial));
  if (action === "ALLOW" && partial) return undefined;
  const out: Clause[] = [];
  for (const cl of clauses) {
    // Strict DENY: an entry with no checkable part reads as matching, so the clause always holds.
    if (mode === "strict" && cl.some((m) => m.partial && isEmpty(m.match))) continue;
    out.push({ matches: cl.map((m) => m.match) });
  }
  return { clauses: out };
}

function lowerOperation(op: ParsedOperation, unchecked: Set<string>): Lowered {
  const found = HTTP_OPERATION_FIELDS.filter((f) => op[f].length > 0);
  for (const f of found) unchecked.add(f);
  return {
    match: { ...emptyMatch, destinationPorts: portsOf(op.ports), notDestinationPorts: portsOf(op.notPorts) },
    partial: found.length > 0,
  };
}

function lowerSource(
  s: ParsedSource,
  namespace: string,
  mode: AuthzL4Mode,
  unchecked: Set<string>,
  warnings: string[],
  name: string,
): Lowered {
  const found: string[] = HTTP_SOURCE_FIELDS.filter((f) => s[f].length > 0);
  const tds = TRUST_DOMAIN_FIELDS.filter((f) => s[f].length > 0);
  if (mode === "strict") found.push(...tds);
  else if (tds.length > 0)
    warnings.push(
      `${name}: ${tds.join(", ")}: not checked by ztunnel (Istio's ambient conversion ignores them), so this source matches peers of any trust domain; use --authz-l4-mode=strict to treat them as unenforceable instead`,
    );
  for (const f of found) unchecked.add(f);
  return {
    match: {
      ...emptyMatch,
      sourceIps: s.ipBlocks.map(addressOf),
      notSourceIps: s.notIpBlocks.map(addressOf),
      namespaces: s.namespaces.map(stringMatch),
      notNamespaces: s.notNamespaces.map(stringMatch),
      serviceAccounts: s.serviceAccounts.map((v) => serviceAccountOf(v, namespace)),
      notServiceAccounts: s.notServiceAccounts.map((v) => serviceAccountOf(v, namespace)),
      principals: s.principals.map(stringMatch),
      notPrincipals: s.notPrincipals.map(stringMatch),
    },
    partial: found.length > 0,
  };
}

/** One `when` condition -> one match; an L7 key gives the empty match (Istio's `whenMatch`). */
function lowerCondition(c: ParsedCondition, unchecked: Set<string>): Lowered {
  if (!L4_WHEN_KEYS.has(c.key)) {
    unchecked.add(c.key);
    return { match: emptyMatch, partial: true };
  }
  const m: { -readonly [K in keyof Match]: Match[K] } = { ...emptyMatch };
  switch (c.key) {
    case "source.ip":
      [m.sourceIps, m.notSourceIps] = [c.values.map(addressOf), c.notValues.map(addressOf)];
      break;
    case "destination.ip":
      [m.destinationIps, m.notDestinationIps] = [c.values.map(addressOf), c.notValues.map(addressOf)];
      break;
    case "destination.port":
      [m.destinationPorts, m.notDestinationPorts] = [portsOf(c.values), portsOf(c.notValues)];
      break;
    case "source.namespace":
      [m.namespaces, m.notNamespaces] = [c.values.map(stringMatch), c.notValues.map(stringMatch)];
      break;
    case "source.principal":
      [m.principals, m.notPrincipals] = [c.values.map(stringMatch), c.notValues.map(stringMatch)];
      break;
  }
  return { match: m, partial: false };
}

function isEmpty(m: Match): boolean {
  return Object.values(m).every((v) => (v as unknown[]).length === 0);
}

/** Istio's `hasEffectiveRules`: some rule has no clauses, or a non-empty match in every clause. */
export function hasEffectiveRules(rules: readonly Rule[]): boolean {
  return rules.some((r) => r.clauses.every((c) => c.matches.length === 0 || c.matches.some((m) => !isEmpty(m))));
}

/** Istio's status message for rules with HTTP attributes, or weft's for the strict reading. */
function uncheckedMessage(name: string, action: AuthorizationAction, mode: AuthzL4Mode, found: string[], rules: readonly Rule[]): string {
  const head = `${name}: ztunnel does not support HTTP attributes (found: ${found.join(", ")}). In ambient mode you must use a waypoint proxy to enforce HTTP rules.`;
  if (action === "ALLOW")
    return `${head} Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.`;
  if (mode === "strict")
    return `${head} With --authz-l4-mode=strict this DENY is enforced on the L4 parts of its rules alone (the HTTP parts read as matching), so it denies every connection those parts match.`;
  if (!hasEffectiveRules(rules))
    return `${head} After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.`;
  return `${head} DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.`;
}

/** Istio's sidecars read `cluster.local/` as the local trust domain; its ambient conversion does not. */
function trustDomainWarnings(p: ParsedAuthorizationPolicy, opts: TranslateOptions, warnings: string[], name: string): void {
  const td = opts.trustDomain;
  if (!td || td === "cluster.local") return;
  const values = (p.rules ?? []).flatMap((r) => [
    ...(r.from ?? []).flatMap((s) => [...s.principals, ...s.notPrincipals]),
    ...r.when.filter((c) => c.key === "source.principal").flatMap((c) => [...c.values, ...c.notValues]),
  ]);
  if (values.some((v) => v.startsWith("cluster.local/")))
    warnings.push(
      `${name}: principals under cluster.local/ are compared as written; the mesh trust domain is ${td}, so they only match peers of trust domain cluster.local (as in Istio ambient)`,
    );
}
