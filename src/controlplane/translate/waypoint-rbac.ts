/**
 * AuthorizationPolicies at a waypoint: which apply to one waypoint listener (Istio's
 * WorkloadPolicyMatcher.ShouldAttachPolicy for waypoints: only targetRefs policies; a Service /
 * ServiceEntry target in the service's namespace, the waypoint's Gateway in its namespace, or
 * GatewayClass istio-waypoint from the root namespace; selector policies stay ztunnel's), and
 * the envoy.filters.http.rbac filters they become (istiod's authz builder: AUDIT (LOG), DENY,
 * ALLOW, each one filter with its enforced `rules` and dry-run `shadow_rules`; policy names
 * `ns[<ns>]-policy[<name>]-rule[<i>]`; a policy without rules matches nothing).
 *
 * Fail closed where istiod would skip or cannot act:
 * - a malformed policy (parser errors) becomes a DENY of everything for its targets (targets read
 *   leniently from the raw object; unreadable targets: every waypoint listener of its namespace,
 *   of the mesh in the root namespace); dry-run keeps it a shadow;
 * CUSTOM (external authorization) as istiod's builder: per provider, an RBAC filter whose DENY
 * `shadow_rules` (stat prefix `istio_ext_authz_`) hold the rules, named
 * `istio-ext-authz-<provider>-ns[..]-policy[..]-rule[i]`, then the provider's ext_authz filter,
 * gated on that shadow match (waypoint-ext-authz.ts). Placed first, as istiod places CUSTOM.
 * Dry-run CUSTOM policies have no effect (reported).
 * - a CUSTOM policy whose provider is missing or unusable, or two providers on one listener
 *   (istiod without PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS): its rules deny
 *   (`...-deny-due-to-bad-CUSTOM-action`), reported; on a TCP port (no network ext_authz in
 *   weft) a DENY of the rules' L4 parts;
 * - a rule that cannot be converted (a guard; the parser validates): the policy denies everything.
 * Each is reported as a problem naming the policy. Pure.
 */
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import { NETWORK_RBAC_TYPE_URL, RBAC_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { DRY_RUN_ANNOTATION, type PolicyTargetRef, type TranslatedAuthorizationPolicy } from "./authorization-policy.js";
import { parseBoolAnnotation } from "./authorization-policy-schema.js";
import type { HttpFilterConfig } from "./routes/envoy-types.js";
import { type Json, MATCH_ALL, MATCH_NEVER, rulePolicy, tcpRule } from "./waypoint-rbac-model.js";
import { EXT_AUTHZ_MATCH_PREFIX, EXT_AUTHZ_SHADOW_PREFIX, type ExtAuthzLookup, NO_EXT_AUTHZ } from "./waypoint-ext-authz.js";

export const WAYPOINT_GATEWAY_CLASS = "istio-waypoint";
export const RBAC_FILTER = "envoy.filters.http.rbac";
export const NETWORK_RBAC_FILTER = "envoy.filters.network.rbac";

/** The waypoint listener a policy may attach to. */
export interface WaypointTarget {
  readonly waypointNamespace: string;
  readonly waypointName: string;
  readonly serviceNamespace: string;
  readonly serviceName: string;
  /** Where the service comes from: a Kubernetes Service or a ServiceEntry. */
  readonly registry: "Kubernetes" | "External";
}

export interface RbacProblem {
  readonly object: string;
  readonly field: string;
  readonly reason: string;
}

const GW_GROUP = "gateway.networking.k8s.io";

/** Targets of a policy; for a malformed one read from the raw object, "unreadable" when they cannot be. */
export function policyTargets(
  t: TranslatedAuthorizationPolicy,
  raw: KubeObject | undefined,
): readonly PolicyTargetRef[] | "unreadable" | undefined {
  if (t.targetRefs) return t.targetRefs;
  if (!t.errors.length || !raw || !isPlainObject(raw.spec)) return undefined;
  const spec = raw.spec;
  if (spec.targetRefs === undefined && spec.targetRef === undefined) return undefined;
  const list = Array.isArray(spec.targetRefs) ? spec.targetRefs : spec.targetRef !== undefined ? [spec.targetRef] : undefined;
  if (!list) return "unreadable";
  const out: PolicyTargetRef[] = [];
  for (const r of list) {
    if (!isPlainObject(r) || typeof r.kind !== "string" || typeof r.name !== "string") return "unreadable";
    out.push({ group: typeof r.group === "string" ? r.group : "", kind: r.kind, name: r.name });
  }
  return out;
}

/** ShouldAttachPolicy for a waypoint serving `t`. */
export function attaches(
  policyNamespace: string,
  targets: readonly PolicyTargetRef[] | "unreadable",
  t: WaypointTarget,
  rootNamespace: string,
): boolean {
  if (targets === "unreadable")
    return policyNamespace === rootNamespace || policyNamespace === t.serviceNamespace || policyNamespace === t.waypointNamespace;
  return targets.some((r) => {
    const group = r.group === "core" ? "" : r.group;
    if (r.kind === "Service" && group === "" && t.registry === "Kubernetes")
      return r.name === t.serviceName && policyNamespace === t.serviceNamespace;
    if (r.kind === "ServiceEntry" && group === "networking.istio.io" && t.registry === "External")
      return r.name === t.serviceName && policyNamespace === t.serviceNamespace;
    if (r.kind === "GatewayClass" && group === GW_GROUP) return policyNamespace === rootNamespace && r.name === WAYPOINT_GATEWAY_CLASS;
    if (r.kind === "Gateway" && group === GW_GROUP) return policyNamespace === t.waypointNamespace && r.name === t.waypointName;
    return false;
  });
}

export function policyName(namespace: string, name: string, rule: number, provider?: string): string {
  const prefix = provider !== undefined ? `${EXT_AUTHZ_MATCH_PREFIX}-${provider}-` : "";
  return `${prefix}ns[${namespace}]-policy[${name}]-rule[${rule}]`;
}

/** istiod's badCustomActionSuffix. */
export const BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action";

interface RuleSet {
  enforced?: Record<string, Json>;
  shadow?: Record<string, Json>;
}

/**
 * The RBAC filters for the policies attached to one listener (sorted by key for stable output).
 * `problems` gets one entry per fail-closed policy.
 */
export function rbacFilters(
  attached: readonly TranslatedAuthorizationPolicy[],
  problems: RbacProblem[],
  raw: (key: string) => KubeObject | undefined = () => undefined,
  /** A TCP listener (tcp_proxy): network RBAC filters with the L4 parts of the rules (istiod's BuildTCP). */
  tcp = false,
  /** The mesh config's ext authz providers (CUSTOM). */
  extAuthz: ExtAuthzLookup = NO_EXT_AUTHZ,
): HttpFilterConfig[] {
  const sets: Record<"CUSTOM" | "AUDIT" | "DENY" | "ALLOW", RuleSet> = { CUSTOM: {}, AUDIT: {}, DENY: {}, ALLOW: {} };
  /** HTTP CUSTOM rules per provider (enforced only; dry-run CUSTOM has no effect). */
  const custom = new Map<string, { policies: Record<string, Json>; objects: string[] }>();
  for (const t of [...attached].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const [ns, name] = [t.key.slice(0, t.key.indexOf("/")), t.key.slice(t.key.indexOf("/") + 1)];
    const object = `AuthorizationPolicy ${t.key}`;
    const dryRun = t.policy?.dryRun ?? dryRunOf(raw(t.key));
    const put = (action: keyof typeof sets, policies: Record<string, Json>) => {
      const set = sets[action];
      const target = dryRun ? (set.shadow ??= {}) : (set.enforced ??= {});
      Object.assign(target, policies);
    };
    if (!t.policy) {
      if (t.action === "AUDIT") continue; // never affects traffic
      problems.push({
        object,
        field: "spec",
        reason: `malformed (${t.errors.map((e) => `${e.field}: ${e.reason}`).join("; ")}): its waypoint targets deny every request (403)`,
      });
      put("DENY", { [policyName(ns, name, 0)]: MATCH_ALL });
      continue;
    }
    const p = t.policy;
    let converted: Record<string, Json>;
    try {
      const l4 = p.action === "ALLOW" ? "ALLOW" : "DENY";
      converted = {};
      const provider = p.action === "CUSTOM" && !tcp ? (p.provider ?? "") : undefined;
      for (const [i, r] of (p.rules ?? []).entries()) {
        const rule = tcp ? tcpRule(r, l4) : r;
        if (rule) converted[policyName(ns, name, i, provider)] = rulePolicy(rule, ns);
      }
      if (!p.rules?.length) converted = { [policyName(ns, name, 0, provider)]: MATCH_NEVER };
    } catch (e) {
      problems.push({
        object,
        field: "spec.rules",
        reason: `cannot be converted (${(e as Error).message}): its waypoint targets deny every request (403)`,
      });
      put("DENY", { [policyName(ns, name, 0)]: MATCH_ALL });
      continue;
    }
    if (p.action === "CUSTOM" && dryRun) {
      problems.push({
        object,
        field: "metadata.annotations",
        reason: "dry-run CUSTOM policies have no effect (the external authorizer is not called)",
      });
    } else if (p.action === "CUSTOM" && tcp) {
      problems.push({
        object,
        field: "spec.action",
        reason: `CUSTOM (provider ${JSON.stringify(p.provider)}) on a TCP port: the weft waypoint has no network ext_authz; connections its rules match are refused`,
      });
      put("CUSTOM", converted);
    } else if (p.action === "CUSTOM") {
      const c = custom.get(p.provider ?? "") ?? { policies: {}, objects: [] };
      Object.assign(c.policies, converted);
      c.objects.push(object);
      custom.set(p.provider ?? "", c);
    } else put(p.action, converted);
  }
  const out: HttpFilterConfig[] = customFilters(custom, extAuthz, problems);
  const order: [keyof typeof sets, string, string][] = [
    ["CUSTOM", "DENY", "istio_ext_authz_"],
    ["AUDIT", "LOG", ""],
    ["DENY", "DENY", "istio_dry_run_deny_"],
    ["ALLOW", "ALLOW", "istio_dry_run_allow_"],
  ];
  for (const [key, action, prefix] of order) {
    const s = sets[key];
    if (!s.enforced && !s.shadow) continue;
    out.push({
      name: tcp ? NETWORK_RBAC_FILTER : RBAC_FILTER,
      typeUrl: tcp ? NETWORK_RBAC_TYPE_URL : RBAC_TYPE_URL,
      config: {
        ...(tcp ? { statPrefix: "tcp." } : {}),
        ...(s.enforced ? { rules: { action, policies: s.enforced } } : {}),
        ...(s.shadow ? { shadowRules: { action, policies: s.shadow } } : {}),
        // istiod: shadowRuleStatPrefix(shadowRules) reads ALLOW from absent shadow rules.
        ...(key === "CUSTOM" || (key === "AUDIT" && s.shadow) ? {} : { shadowRulesStatPrefix: s.shadow ? prefix : "istio_dry_run_allow_" }),
      },
    });
  }
  return out;
}

/**
 * The CUSTOM filters, per provider in name order (istiod's buildHTTP for the custom builder): the
 * RBAC filter with the rules as DENY shadow rules, then the provider's ext_authz; for a provider
 * that cannot be used, an RBAC filter that denies what the rules match.
 */
function customFilters(
  custom: ReadonlyMap<string, { policies: Record<string, Json>; objects: string[] }>,
  extAuthz: ExtAuthzLookup,
  problems: RbacProblem[],
): HttpFilterConfig[] {
  const out: HttpFilterConfig[] = [];
  const providers = [...custom.keys()].sort();
  const deny = (policies: Record<string, Json>): HttpFilterConfig => ({
    name: RBAC_FILTER,
    typeUrl: RBAC_TYPE_URL,
    config: {
      rules: { action: "DENY", policies: Object.fromEntries(Object.entries(policies).map(([k, v]) => [k + BAD_CUSTOM_SUFFIX, v])) },
    },
  });
  for (const provider of providers) {
    const c = custom.get(provider)!;
    const r =
      providers.length > 1
        ? {
            ok: false as const,
            error: `multiple CUSTOM providers on one waypoint listener are not supported (found ${JSON.stringify(providers)})`,
          }
        : extAuthz(provider);
    if (!r.ok) {
      for (const object of c.objects)
        problems.push({ object, field: "spec.provider.name", reason: `${r.error}: requests its rules match are denied (403)` });
      out.push(deny(c.policies));
      continue;
    }
    out.push(
      {
        name: RBAC_FILTER,
        typeUrl: RBAC_TYPE_URL,
        config: { shadowRules: { action: "DENY", policies: c.policies }, shadowRulesStatPrefix: EXT_AUTHZ_SHADOW_PREFIX },
      },
      r.value.filter,
    );
  }
  return out;
}

/** The dry-run annotation of a malformed policy, as the parser reads it (an unreadable value enforces). */
function dryRunOf(o: KubeObject | undefined): boolean {
  const v = o?.metadata?.annotations?.[DRY_RUN_ANNOTATION];
  return typeof v === "string" && parseBoolAnnotation(v) === true;
}
