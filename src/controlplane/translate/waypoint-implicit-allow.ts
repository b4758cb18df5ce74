/**
 * Istio's implicit waypoint allow (istiod's `PILOT_AUTO_ALLOW_WAYPOINT_POLICY`, off by default
 * in Istio and here): for each waypoint, a synthetic ztunnel ALLOW of the waypoint's identity,
 * `<ns>/istio_allow_waypoint_<ns>_<name>` (WORKLOAD_SELECTOR, bound by name, not labels), listed
 * in the `authorizationPolicies` of every workload that uses the waypoint itself or through one
 * of its services (pilot/pkg/serviceregistry/ambient policies.go implicitWaypointPolicy,
 * workloads.go implicitWaypointPolicies). With it, a workload behind a waypoint admits the
 * waypoint even when its own ALLOW policies name only the original clients, and (unless other
 * ALLOWs match) denies traffic that bypasses the waypoint. Pure.
 */
import type { Authorization } from "../../common/model/authorization.js";
import type { GatewayAddress } from "../../common/model/workload.js";
import type { Waypoint } from "./waypoint.js";

export function implicitWaypointPolicyName(namespace: string, name: string): string {
  // '_' is illegal in Kubernetes names: no user policy can collide.
  return `istio_allow_waypoint_${namespace}_${name}`;
}

export function implicitWaypointAuthorization(w: Waypoint, trustDomain: string): Authorization {
  const none = {
    namespaces: [],
    notNamespaces: [],
    notPrincipals: [],
    sourceIps: [],
    notSourceIps: [],
    destinationIps: [],
    notDestinationIps: [],
  };
  return {
    name: implicitWaypointPolicyName(w.namespace, w.name),
    namespace: w.namespace,
    scope: "WORKLOAD_SELECTOR",
    action: "ALLOW",
    dryRun: false,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                ...none,
                principals: [{ exact: `${trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}` }],
                destinationPorts: [],
                notDestinationPorts: [],
                serviceAccounts: [],
                notServiceAccounts: [],
              },
            ],
          },
        ],
      },
    ],
  };
}

/** `<ns>/<name>` of a waypoint from its address (`<name>.<ns>.svc.<domain>`), if it is a hostname. */
function waypointRef(a: GatewayAddress | undefined): string | undefined {
  if (a?.kind !== "hostname") return undefined;
  const [name, ns] = a.hostname.split(".");
  return name && ns ? `${ns}/${implicitWaypointPolicyName(ns, name)}` : undefined;
}

/** The implicit policy names a workload lists: its own waypoint's and its services' waypoints'. */
export function implicitWaypointPolicyNames(own: GatewayAddress | undefined, services: readonly (GatewayAddress | undefined)[]): string[] {
  const out = new Set<string>();
  for (const a of [own, ...services]) {
    const r = waypointRef(a);
    if (r) out.add(r);
  }
  return [...out].sort();
}
