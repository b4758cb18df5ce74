/**
 * Effective PeerAuthentication of a workload, and the L4 Authorization resources that enforce
 * STRICT in ambient mode (a DENY of peers without a principal).
 *
 * Resolution: the workload-level policy (selector matching the pod, in the pod's namespace)
 * overrides the namespace-level one, which overrides the mesh-level one (root namespace, no
 * selector); UNSET inherits from the level above; with nothing set the mode is PERMISSIVE.
 * Among several policies of one level the oldest wins (then the name), as in Istio. Port-level
 * modes override the workload's mode for that target port; an UNSET port inherits it.
 *
 * Enforcement mirrors Istio ambient's conversion so config dumps look familiar:
 * - `<root>/istio_converted_static_strict` (DENY, notPrincipals presence) is bound to every
 *   workload whose effective mode is STRICT on all ports;
 * - `<ns>/converted_peer_authentication_<name>` is emitted for a workload policy whose ports do
 *   not all share the workload's mode, and bound instead of the static policy: STRICT with
 *   exceptions denies plaintext except on the exception ports, PERMISSIVE with STRICT ports
 *   denies plaintext only on those ports. DISABLE counts as PERMISSIVE. Pure.
 */
import type { Authorization, Rule } from "../../common/model/authorization.js";
import { authorizationKey } from "../../common/model/authorization.js";
import { match } from "./authorization-policy-match.js";
import { selectorMatches } from "./authorization-policy-binding.js";
import type { MtlsMode, PeerAuthenticationPolicy } from "./peer-authentication.js";

export const STATIC_STRICT_POLICY_NAME = "istio_converted_static_strict";
export const CONVERTED_PEER_AUTHENTICATION_PREFIX = "converted_peer_authentication_";

/** A resolved mode: never UNSET. */
export type ResolvedMtlsMode = Exclude<MtlsMode, "UNSET">;

export interface EffectivePeerAuthentication {
  /** Mode for ports without a port-level override. */
  readonly mode: ResolvedMtlsMode;
  /** Port-level overrides, resolved (UNSET replaced by `mode`). */
  readonly ports: ReadonlyMap<number, ResolvedMtlsMode>;
  /** `namespace/name` of the policy chosen at each level, for dumps and explain. */
  readonly from: { readonly mesh?: string; readonly namespace?: string; readonly workload?: string };
  /** Authorization keys to add to the workload's `authorizationPolicies`. */
  readonly authorizationPolicies: readonly string[];
}

/** Whether a mode makes ztunnel reject plaintext (DISABLE is PERMISSIVE in ambient). */
export function requiresMtls(mode: ResolvedMtlsMode): boolean {
  return mode === "STRICT";
}

export function modeForPort(e: EffectivePeerAuthentication, port: number): ResolvedMtlsMode {
  return e.ports.get(port) ?? e.mode;
}

function oldest(ps: readonly PeerAuthenticationPolicy[]): PeerAuthenticationPolicy | undefined {
  let best: PeerAuthenticationPolicy | undefined;
  for (const p of ps) {
    if (!best) {
      best = p;
      continue;
    }
    const a = p.creationTimestamp ?? "\uffff";
    const b = best.creationTimestamp ?? "\uffff";
    if (a < b || (a === b && p.name < best.name)) best = p;
  }
  return best;
}

const keyOf = (p: PeerAuthenticationPolicy) => `${p.namespace}/${p.name}`;

function meshPolicy(ps: readonly PeerAuthenticationPolicy[], root: string) {
  return oldest(ps.filter((p) => p.level === "MESH" && p.namespace === root));
}
function namespacePolicy(ps: readonly PeerAuthenticationPolicy[], ns: string, root: string) {
  return ns === root ? undefined : oldest(ps.filter((p) => p.level === "NAMESPACE" && p.namespace === ns));
}

/** The inherited mode for a namespace (mesh, then namespace level); PERMISSIVE if nothing is set. */
function parentMode(ps: readonly PeerAuthenticationPolicy[], ns: string, root: string): ResolvedMtlsMode {
  let mode: ResolvedMtlsMode = "PERMISSIVE";
  const mesh = meshPolicy(ps, root);
  if (mesh && mesh.mode !== "UNSET") mode = mesh.mode;
  const nsp = namespacePolicy(ps, ns, root);
  if (nsp && nsp.mode !== "UNSET") mode = nsp.mode;
  return mode;
}

interface Resolved {
  readonly mode: ResolvedMtlsMode;
  readonly ports: Map<number, ResolvedMtlsMode>;
}

function resolveWorkloadPolicy(w: PeerAuthenticationPolicy, parent: ResolvedMtlsMode): Resolved {
  const mode = w.mode === "UNSET" ? parent : w.mode;
  const ports = new Map<number, ResolvedMtlsMode>();
  for (const [port, m] of w.portLevelMtls) ports.set(port, m === "UNSET" ? mode : m);
  return { mode, ports };
}

/** Ports whose strictness differs from the workload's mode, sorted. */
function exceptions(r: Resolved): number[] {
  const strict = requiresMtls(r.mode);
  return [...r.ports]
    .filter(([, m]) => requiresMtls(m) !== strict)
    .map(([p]) => p)
    .sort((a, b) => a - b);
}

export function staticStrictAuthorization(rootNamespace: string): Authorization {
  return {
    name: STATIC_STRICT_POLICY_NAME,
    namespace: rootNamespace,
    scope: "WORKLOAD_SELECTOR",
    action: "DENY",
    rules: [{ clauses: [{ matches: [match({ notPrincipals: [{ presence: true }] })] }] }],
    dryRun: false,
  };
}

export function convertedName(p: Pick<PeerAuthenticationPolicy, "name">): string {
  return CONVERTED_PEER_AUTHENTICATION_PREFIX + p.name;
}

/** The converted DENY for a workload policy with port exceptions, or undefined if it needs none. */
export function convertPeerAuthentication(
  w: PeerAuthenticationPolicy,
  all: readonly PeerAuthenticationPolicy[],
  rootNamespace: string,
): Authorization | undefined {
  if (w.level !== "WORKLOAD" || w.namespace === rootNamespace || w.portLevelMtls.size === 0) return undefined;
  const r = resolveWorkloadPolicy(w, parentMode(all, w.namespace, rootNamespace));
  const ports = exceptions(r);
  if (ports.length === 0) return undefined;
  const noPrincipal = { matches: [match({ notPrincipals: [{ presence: true }] })] };
  const rule: Rule = requiresMtls(r.mode)
    ? { clauses: [noPrincipal, { matches: [match({ notDestinationPorts: ports })] }] }
    : { clauses: [noPrincipal, { matches: [match({ destinationPorts: ports })] }] };
  return { name: convertedName(w), namespace: w.namespace, scope: "WORKLOAD_SELECTOR", action: "DENY", rules: [rule], dryRun: false };
}

/** Every Authorization PeerAuthentication needs in state: the static STRICT one and the converted ones. */
export function peerAuthenticationAuthorizations(all: readonly PeerAuthenticationPolicy[], rootNamespace: string): Authorization[] {
  const out = [staticStrictAuthorization(rootNamespace)];
  for (const p of all) {
    const c = convertPeerAuthentication(p, all, rootNamespace);
    if (c) out.push(c);
  }
  return out;
}

export function effectivePeerAuthentication(
  workload: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> },
  all: readonly PeerAuthenticationPolicy[],
  rootNamespace: string,
): EffectivePeerAuthentication {
  const mesh = meshPolicy(all, rootNamespace);
  const nsp = namespacePolicy(all, workload.namespace, rootNamespace);
  const wp =
    workload.namespace === rootNamespace
      ? undefined
      : oldest(
          all.filter(
            (p) =>
              p.level === "WORKLOAD" && p.namespace === workload.namespace && p.selector && selectorMatches(p.selector, workload.labels),
          ),
        );
  const parent = parentMode(all, workload.namespace, rootNamespace);
  const r: Resolved = wp ? resolveWorkloadPolicy(wp, parent) : { mode: parent, ports: new Map() };
  const from = {
    ...(mesh ? { mesh: keyOf(mesh) } : {}),
    ...(nsp ? { namespace: keyOf(nsp) } : {}),
    ...(wp ? { workload: keyOf(wp) } : {}),
  };
  let bound: string[] = [];
  if (wp && exceptions(r).length > 0) bound = [`${wp.namespace}/${convertedName(wp)}`];
  else if (requiresMtls(r.mode)) bound = [authorizationKey(staticStrictAuthorization(rootNamespace))];
  return { mode: r.mode, ports: r.ports, from, authorizationPolicies: bound };
}
