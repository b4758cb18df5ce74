/**
 * Security policy in the control plane: AuthorizationPolicy and PeerAuthentication objects of
 * the config store become `istio.security.Authorization` resources, and each workload learns
 * the names of the selector-bound policies that apply to it.
 *
 * - A malformed policy is never refused or dropped (that would widen access to its targets):
 *   it enters the store and translates to a fail-closed DENY (AuthorizationPolicy) or STRICT
 *   (PeerAuthentication), logged as an error naming each field on every recomputation.
 *   `policyValidator` only refuses what cannot name a target at all (no namespace or name).
 * - Revisions (Istio's `istio.io/rev`): with `revision` set, policies labelled for another
 *   revision are ignored; unlabelled ones always apply (istio pkg/config `LabelsInRevision`).
 * - `authorizations(store)` is a pure recomputation of every Authorization (policies are few
 *   next to pods; recomputing all of them on a policy change is cheap and obviously right).
 * - `policiesFor` replaces the translator's default binding: selector AuthorizationPolicies
 *   that translated (not AUDIT, not waypoint-targeted) plus the converted PeerAuthentication
 *   that applies to the workload (STRICT as a DENY of peers without an identity).
 */
import type { Authorization } from "../common/model/authorization.js";
import type { KubeObject, Origin } from "../kube/object.js";
import type { InvalidObject } from "../kube/source.js";
import type { ReadStore, StoreValidator } from "./model/store.js";
import { type Result, ok, err } from "../common/result.js";
import { logger } from "../common/log.js";
import { type AuthzL4Mode, translateAuthorizationPolicy, type TranslatedAuthorizationPolicy } from "./translate/authorization-policy.js";
import { translatePeerAuthentication, type PeerAuthenticationPolicy } from "./translate/peer-authentication.js";
import { effectivePeerAuthentication, peerAuthenticationAuthorizations } from "./translate/peer-authentication-effective.js";
import { selectorMatches } from "./translate/authorization-policy-binding.js";
import type { ValidationError } from "./translate/authorization-policy-schema.js";
import { translateConfig } from "./translate/translate-config.js";
import { GATEWAY_KIND, waypointOf } from "./translate/waypoint.js";
import { implicitWaypointAuthorization } from "./translate/waypoint-implicit-allow.js";

const log = logger("controlplane.policies");

export const AUTHZ_KIND = "security.istio.io/AuthorizationPolicy";
export const PEERAUTHN_KIND = "security.istio.io/PeerAuthentication";

export interface PolicySettings {
  readonly rootNamespace: string;
  readonly trustDomain: string;
  /** How attributes ztunnel cannot check are read (translate/authorization-policy.ts); default "istio". */
  readonly l4Mode?: AuthzL4Mode;
  /** This control plane's revision; "" or undefined reads every policy. */
  readonly revision?: string;
  /** Istio's PILOT_AUTO_ALLOW_WAYPOINT_POLICY (default false): send each waypoint's implicit ALLOW. */
  readonly autoAllowWaypoint?: boolean;
}

export const REVISION_LABEL = "istio.io/rev";

/** Istio's `LabelsInRevision`: unlabelled objects belong to every revision. */
export function inRevision(o: KubeObject, revision: string | undefined): boolean {
  const rev = o.metadata?.labels?.[REVISION_LABEL];
  return rev === undefined || !revision || rev === revision;
}

function isKind(o: KubeObject, kind: string): boolean {
  return o.apiVersion.startsWith("security.istio.io/") && o.kind === kind;
}

/** Chains after the envelope validator: security kinds are refused only when they cannot name a target. */
export function policyValidator(s: PolicySettings, next?: StoreValidator): StoreValidator {
  return (o: KubeObject, origin: Origin): Result<KubeObject, InvalidObject> => {
    if (next) {
      const r = next(o, origin);
      if (!r.ok) return r;
    }
    const errors = isKind(o, "AuthorizationPolicy")
      ? translateAuthorizationPolicy(o, s)
      : isKind(o, "PeerAuthentication")
        ? translatePeerAuthentication(o, { rootNamespace: s.rootNamespace })
        : ok(undefined);
    if (errors.ok) return ok(o);
    const first = errors.error[0]!;
    const more =
      errors.error.length > 1
        ? ` (and ${errors.error.length - 1} more: ${errors.error
            .slice(1)
            .map((e) => `${e.field}: ${e.reason}`)
            .join("; ")})`
        : "";
    return err({ origin, object: first.object, field: first.field, reason: first.reason + more });
  };
}

/**
 * Translated policies per store version: binding asks once per workload, and a full translation
 * of 10k pods must not translate every policy 10k times.
 */
const memo = new WeakMap<
  ReadStore,
  { version: number; settings: PolicySettings; authz: TranslatedAuthorizationPolicy[]; peer: PeerAuthenticationPolicy[] }
>();

function translatedAll(store: ReadStore, s: PolicySettings): { authz: TranslatedAuthorizationPolicy[]; peer: PeerAuthenticationPolicy[] } {
  const m = memo.get(store);
  if (m && m.version === store.version && m.settings === s) return m;
  const authz: TranslatedAuthorizationPolicy[] = [];
  for (const o of store.list(AUTHZ_KIND)) {
    if (!inRevision(o, s.revision)) continue;
    const t = translateAuthorizationPolicy(o, s);
    if (t.ok) authz.push(t.value);
  }
  const peer: PeerAuthenticationPolicy[] = [];
  for (const o of store.list(PEERAUTHN_KIND)) {
    if (!inRevision(o, s.revision)) continue;
    const t = translatePeerAuthentication(o, { rootNamespace: s.rootNamespace });
    if (t.ok) peer.push(t.value);
  }
  const fresh = { version: store.version, settings: s, authz, peer };
  memo.set(store, fresh);
  return fresh;
}

export function translatedAuthorizationPolicies(store: ReadStore, s: PolicySettings): TranslatedAuthorizationPolicy[] {
  return translatedAll(store, s).authz;
}

export function peerAuthentications(store: ReadStore, s: PolicySettings): PeerAuthenticationPolicy[] {
  return translatedAll(store, s).peer;
}

/** Every error of every malformed policy in force (each one failing closed), for the config dump. */
export function policyErrors(store: ReadStore, s: PolicySettings): ValidationError[] {
  return [...translatedAuthorizationPolicies(store, s).flatMap((t) => t.errors), ...peerAuthentications(store, s).flatMap((p) => p.errors)];
}

/** Every Authorization resource the store implies, warnings logged once per recomputation. */
export function authorizations(store: ReadStore, s: PolicySettings): Authorization[] {
  const out: Authorization[] = [];
  for (const t of translatedAuthorizationPolicies(store, s)) {
    const level = t.errors.length > 0 ? "error" : "warn";
    for (const w of t.warnings) log[level]({ policy: t.key, kind: "AuthorizationPolicy" }, w);
    if (t.authorization && !t.targetRefs) out.push(t.authorization);
  }
  const pas = peerAuthentications(store, s);
  for (const p of pas) {
    const level = p.errors.length > 0 ? "error" : "warn";
    for (const w of p.warnings) log[level]({ policy: `${p.namespace}/${p.name}`, kind: "PeerAuthentication" }, w);
  }
  out.push(...peerAuthenticationAuthorizations(pas, s.rootNamespace));
  if (s.autoAllowWaypoint) {
    const cfg = translateConfig({ rootNamespace: s.rootNamespace, trustDomain: s.trustDomain });
    for (const gw of store.list(GATEWAY_KIND)) {
      const w = waypointOf(cfg, gw);
      if (w) out.push(implicitWaypointAuthorization(w, s.trustDomain));
    }
  }
  return out;
}

/** The translator hook: names of the policies bound to a workload with these labels. */
export function policyBinder(
  s: PolicySettings,
): (store: ReadStore, namespace: string, labels: Readonly<Record<string, string>>) => string[] {
  return (store, namespace, labels) => {
    const names = new Set<string>();
    for (const t of translatedAuthorizationPolicies(store, s)) {
      if (!t.authorization || t.targetRefs || t.authorization.scope !== "WORKLOAD_SELECTOR" || !t.selector) continue;
      const [ns] = t.key.split("/");
      if (ns !== namespace && ns !== s.rootNamespace) continue;
      if (selectorMatches(t.selector, labels)) names.add(t.key);
    }
    for (const n of effectivePeerAuthentication({ namespace, labels }, peerAuthentications(store, s), s.rootNamespace)
      .authorizationPolicies)
      names.add(n);
    return [...names].sort();
  };
}
