/**
 * Authorization for waypoints, per store version: the AuthorizationPolicies (already translated
 * and revision-filtered by policies.ts) and RequestAuthentications attached to each waypoint
 * listener become its HTTP filters (jwt_authn first, then CUSTOM (RBAC + ext_authz), then RBAC
 * AUDIT, DENY, ALLOW), as
 * istiod's waypoint listeners have them. Problems (fail-closed policies, CUSTOM) are reported by
 * the waypoint pipeline with the routing problems.
 */
import type { KubeObject } from "../kube/object.js";
import type { ReadStore } from "./model/store.js";
import { AUTHZ_KIND, type PolicySettings, inRevision, translatedAuthorizationPolicies } from "./policies.js";
import {
  REQUEST_AUTHN_KIND,
  type JwksLookup,
  type ParsedRequestAuthentication,
  jwtFilter,
  parseRequestAuthentication,
  requestAuthnProblems,
} from "./translate/request-authentication.js";
import type { HttpFilterConfig } from "./translate/routes/envoy-types.js";
import type { MeshConfig } from "./mesh-config.js";
import { type ExtAuthzLookup, NO_EXT_AUTHZ, extAuthzLookup } from "./translate/waypoint-ext-authz.js";
import { type RbacProblem, type WaypointTarget, attaches, policyTargets, rbacFilters } from "./translate/waypoint-rbac.js";

export class WaypointAuthz {
  private version = -1;
  private policies: { t: ReturnType<typeof translatedAuthorizationPolicies>[number]; targets: ReturnType<typeof policyTargets> }[] = [];
  private requestAuthns: ParsedRequestAuthentication[] = [];
  private readonly cache = new Map<string, readonly HttpFilterConfig[]>();
  problems: RbacProblem[] = [];

  constructor(
    private readonly settings: PolicySettings,
    private readonly jwks: JwksLookup,
    /** Registers a callback for when resolved keys change (JwksResolver.onChange). */
    readonly onKeysChanged: (f: () => void) => () => void = () => () => {},
    /** The mesh config's ext authz providers (CUSTOM) and the cluster domain their services are in. */
    private mesh?: { readonly config: MeshConfig; readonly clusterDomain: string },
  ) {}

  /** A new mesh config: its ext authz providers are read again at the next refresh. */
  setMeshConfig(config: MeshConfig): void {
    if (!this.mesh) return;
    this.mesh = { ...this.mesh, config };
    this.version = -1;
  }

  private extAuthz: ExtAuthzLookup = NO_EXT_AUTHZ;

  /** Recomputes the inputs if the store changed; call once per pipeline pass. */
  refresh(store: ReadStore): void {
    this.cache.clear();
    this.problems = [];
    if (store.version === this.version) return;
    this.version = store.version;
    if (this.mesh) this.extAuthz = extAuthzLookup(this.mesh.config, store, this.mesh.clusterDomain);
    const raw = (key: string): KubeObject | undefined => store.get(`${AUTHZ_KIND}/${key}`);
    this.policies = translatedAuthorizationPolicies(store, this.settings)
      .map((t) => ({ t, targets: policyTargets(t, raw(t.key)) }))
      .filter((p) => p.targets !== undefined);
    this.requestAuthns = store
      .list(REQUEST_AUTHN_KIND)
      .filter((o) => inRevision(o, this.settings.revision))
      .map(parseRequestAuthentication)
      .filter((p): p is ParsedRequestAuthentication => p !== undefined);
    this.raw = raw;
  }

  private raw: (key: string) => KubeObject | undefined = () => undefined;

  private addProblems(problems: readonly RbacProblem[]): void {
    for (const p of problems)
      if (!this.problems.some((q) => q.object === p.object && q.field === p.field && q.reason === p.reason)) this.problems.push(p);
  }

  /** The HTTP filters of one waypoint listener (network RBAC filters for a TCP one). */
  filtersFor = (target: WaypointTarget, protocol: "http" | "tcp" = "http"): readonly HttpFilterConfig[] => {
    const key = `${target.waypointNamespace}/${target.waypointName}|${target.serviceNamespace}/${target.serviceName}|${target.registry}|${protocol}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const root = this.settings.rootNamespace;
    const attached = this.policies.filter((p) => attaches(p.t.key.split("/")[0]!, p.targets!, target, root)).map((p) => p.t);
    const problems: RbacProblem[] = [];
    const rbac = rbacFilters(attached, problems, this.raw, protocol === "tcp", this.extAuthz);
    if (protocol === "tcp") {
      this.addProblems(problems);
      this.cache.set(key, rbac);
      return rbac;
    }
    const ras = this.requestAuthns.filter((ra) => {
      if (ra.targetsUnreadable) return attaches(ra.namespace, "unreadable", target, root);
      return ra.targetRefs !== undefined && attaches(ra.namespace, ra.targetRefs, target, root);
    });
    problems.push(...requestAuthnProblems(ras));
    const jwt = jwtFilter(ras, this.jwks);
    const out = [...(jwt ? [jwt] : []), ...rbac];
    this.addProblems(problems);
    this.cache.set(key, out);
    return out;
  };
}
