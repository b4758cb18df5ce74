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
 * - CUSTOM (external authorization is not implemented): a DENY of what its rules match, placed
 *   first as istiod places CUSTOM, reported;
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

export function policyName(namespace: string, name: string, rule: number): string {
  return `ns[${namespace}]-policy[${name}]-rule[${rule}]`;
}

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
): HttpFilterConfig[] {
  const sets: Record<"CUSTOM" | "AUDIT" | "DENY" | "ALLOW", RuleSet> = { CUSTOM: {}, AUDIT: {}, DENY: {}, ALLOW: {} };
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
      for (const [i, r] of (p.rules ?? []).entries()) {
        const rule = tcp ? tcpRule(r, l4) : r;
        if (rule) converted[policyName(ns, name, i)] = rulePolicy(rule, ns);
      }
      if (!p.rules?.length) converted = { [policyName(ns, name, 0)]: MATCH_NEVER };
    } catch (e) {
      problems.push({
        object,
        field: "spec.rules",
        reason: `cannot be converted (${(e as Error).message}): its waypoint targets deny every request (403)`,
      });
      put("DENY", { [policyName(ns, name, 0)]: MATCH_ALL });
      continue;
    }
    if (p.action === "CUSTOM") {
      problems.push({
        object,
        field: "spec.action",
        reason: `CUSTOM (provider ${JSON.stringify(p.provider)}): external authorization is not implemented by the weft waypoint; requests its rules match are denied (403), the rest continue to DENY/ALLOW`,
      });
      put("CUSTOM", converted);
    } else put(p.action, converted);
  }
  const out: HttpFilterConfig[] = [];
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

/** The dry-run annotation of a malformed policy, as the parser reads it (an unreadable value enforces). */
function dryRunOf(o: KubeObject | undefined): boolean {
  const v = o?.metadata?.annotations?.[DRY_RUN_ANNOTATION];
  return typeof v === "string" && parseBoolAnnotation(v) === true;
}
