/**
 * Outbound routing as a pure function of state (like upstream ztunnel's `build_request`):
 * given the source workload and the original destination a client dialled, decide the next hop.
 *
 * - A service VIP: pick a healthy endpoint (load balancing with routing preference), map the
 *   service port to the endpoint's target port, then route as for that workload.
 * - A waypoint in front of the service or workload: HBONE to the waypoint, keeping the original
 *   destination as the HBONE target, expecting the waypoint's identity; a waypoint that cannot
 *   be resolved rejects (fail closed); traffic from the waypoint itself goes on to the target.
 * - A mesh workload (tunnel HBONE): HBONE to `<workload IP>:15008`, authority
 *   `<workload IP>:<target port>`, expecting the workload's SPIFFE identity.
 * - A workload without a tunnel: direct TCP to it; a hostname workload (ServiceEntry resolution
 *   DNS, a WorkloadEntry with a DNS address) is direct TCP to that name, resolved by the caller.
 * - A service whose load balancing is PASSTHROUGH (ServiceEntry resolution NONE): direct TCP to
 *   the address the client dialled.
 * - An address the mesh does not know: direct TCP (passthrough) under ALLOW_ANY; refused under
 *   REGISTRY_ONLY (Istio's outboundTrafficPolicy), naming the destination.
 * - Endpoints with a capacity (WorkloadEntry weight) are picked in proportion to it.
 * No IO here; `pick` is injected so balancing is deterministic in tests.
 */
import type { GatewayAddress, Workload } from "../../common/model/workload.js";
import { type Service, serviceKey } from "../../common/model/service.js";
import { workloadIdentityUri } from "../../common/model/workload.js";
import type { SocketAddress } from "../../common/net/addr.js";
import type { StateView } from "../../proxy/state/state.js";

export const HBONE_PORT = 15008;

export type OutboundRoute =
  | {
      readonly kind: "hbone";
      /** Where the TLS/HTTP2 connection goes: the destination (or waypoint) workload IP, port 15008. */
      readonly hboneAddress: SocketAddress;
      /** The CONNECT target (`:authority`): endpoint IP and target port, or the original VIP for a waypoint. */
      readonly authority: SocketAddress;
      /** SPIFFE URIs the server certificate may carry. */
      readonly expectedIdentities: readonly string[];
      /** The workload the stream terminates at (the waypoint's when `viaWaypoint`). */
      readonly destination: Workload;
      /** The service the client addressed, if it dialled a VIP. */
      readonly service?: Service;
      readonly viaWaypoint: boolean;
    }
  | {
      readonly kind: "direct";
      readonly address: SocketAddress;
      /** Set for a hostname workload: connect to this name (resolved upstream) at `address.port`; `address.ip` is "". */
      readonly hostname?: string;
      readonly destination?: Workload;
      readonly service?: Service;
      /** Why there is no tunnel: the destination is outside the mesh, or not HBONE-capable. */
      readonly reason: "passthrough" | "no-tunnel";
    }
  | {
      readonly kind: "reject";
      readonly reason: string;
      readonly service?: Service;
      /** Set when the refusal is a waypoint without a healthy endpoint (the caller logs it at warn). */
      readonly waypoint?: GatewayAddress;
      /** Set when REGISTRY_ONLY refused a destination outside the registry. */
      readonly registryOnly?: true;
    };

/** Chooses an index in [0, n). Production uses Math.random; tests inject a fixed choice. */
export type Pick = (n: number) => number;
export const randomPick: Pick = (n) => Math.floor(Math.random() * n);

export interface RouteOptions {
  /** Istio's outboundTrafficPolicy mode; default ALLOW_ANY. */
  readonly outboundTrafficPolicy?: "ALLOW_ANY" | "REGISTRY_ONLY";
}

export function buildOutboundRoute(
  state: StateView,
  source: Workload,
  target: SocketAddress,
  pick: Pick = randomPick,
  opts: RouteOptions = {},
): OutboundRoute {
  const service = state.serviceByVip(source.network, target.ip);
  if (service) return routeToService(state, source, service, target, pick);
  const workload = state.workloadByAddress(source.network, target.ip);
  if (workload) return routeToWorkload(state, source, workload, target.port, target, undefined);
  if (opts.outboundTrafficPolicy === "REGISTRY_ONLY")
    return {
      kind: "reject",
      reason: `destination ${target.ip}:${target.port} is not in the mesh registry (outboundTrafficPolicy REGISTRY_ONLY): add a ServiceEntry for it`,
      registryOnly: true,
    };
  return { kind: "direct", address: target, reason: "passthrough" };
}

/** An index in [0, candidates) drawn in proportion to each endpoint's capacity (default 1). */
function weightedPick(candidates: readonly Workload[], pick: Pick): number {
  if (!candidates.some((w) => w.capacity !== undefined)) return pick(candidates.length);
  const total = candidates.reduce((n, w) => n + (w.capacity ?? 1), 0);
  let r = pick(total);
  for (let i = 0; i < candidates.length; i++) {
    r -= candidates[i]!.capacity ?? 1;
    if (r < 0) return i;
  }
  return candidates.length - 1;
}

function routeToService(state: StateView, source: Workload, service: Service, target: SocketAddress, pick: Pick): OutboundRoute {
  const port = service.ports.find((p) => p.servicePort === target.port);
  if (!port) return { kind: "reject", reason: `service ${service.hostname} has no port ${target.port}`, service };

  // A service waypoint sees the traffic first, unless the source is (a replica of) that waypoint.
  // Fail closed: an unresolvable waypoint rejects, it is never bypassed.
  if (service.waypoint && !isFromWaypoint(state, source, service.waypoint)) {
    const wp = resolveWaypoint(state, source, service.waypoint);
    if (!wp)
      return {
        kind: "reject",
        reason: `waypoint of service ${service.hostname} has no healthy endpoint`,
        service,
        waypoint: service.waypoint,
      };
    return waypointRoute(wp, service.waypoint.hboneMtlsPort, target, service);
  }

  // Resolution NONE: the client dialled the real address; go there.
  if (service.loadBalancing?.mode === "PASSTHROUGH") return { kind: "direct", address: target, reason: "passthrough", service };

  const key = serviceKey(service);
  const candidates = selectEndpoints(state.endpointsOf(key), source, service);
  if (candidates.length === 0) return { kind: "reject", reason: `service ${service.hostname} has no healthy endpoints`, service };
  const endpoint = candidates[weightedPick(candidates, pick)] ?? candidates[0]!;

  const mapping = endpoint.services.get(key)?.find((m) => m.servicePort === target.port);
  const targetPort = mapping?.targetPort || port.targetPort || port.servicePort;
  return routeToWorkload(state, source, endpoint, targetPort, target, service);
}

/**
 * Endpoint filtering: healthy only (unless the policy allows all), then routing preference:
 * STRICT keeps only endpoints that share every listed scope with the source; FAILOVER prefers
 * the closest non-empty tier.
 */
export function selectEndpoints(endpoints: readonly Workload[], source: Workload, service: Service): Workload[] {
  const lb = service.loadBalancing;
  const healthy = lb?.healthPolicy === "ALLOW_ALL" ? [...endpoints] : endpoints.filter((w) => w.status === "HEALTHY");
  if (!lb || lb.routingPreference.length === 0 || lb.mode === "PASSTHROUGH" || lb.mode === "UNSPECIFIED_MODE") return healthy;
  const scopes = lb.routingPreference;
  const rank = (w: Workload): number => {
    let matched = 0;
    for (const s of scopes) {
      if (!sameScope(s, w, source)) break;
      matched++;
    }
    return matched;
  };
  if (lb.mode === "STRICT") return healthy.filter((w) => rank(w) === scopes.length);
  const best = Math.max(-1, ...healthy.map(rank));
  return healthy.filter((w) => rank(w) === best);
}

function sameScope(scope: string, a: Workload, b: Workload): boolean {
  switch (scope) {
    case "REGION":
      return a.locality?.region === b.locality?.region;
    case "ZONE":
      return a.locality?.zone === b.locality?.zone;
    case "SUBZONE":
      return a.locality?.subzone === b.locality?.subzone;
    case "NODE":
      return a.node === b.node;
    case "CLUSTER":
      return a.clusterId === b.clusterId;
    case "NETWORK":
      return a.network === b.network;
    default:
      return true;
  }
}

/**
 * Which of a (possibly dual-stack) workload's addresses to reach it by, as upstream ztunnel
 * (`pick_workload_destination`): the address the client dialled if it is the workload's own;
 * else the first of the original destination's family (a Service VIP of IPv6 goes to an IPv6
 * endpoint address); else the first address. Undefined when the workload has none.
 */
export function workloadIp(addresses: readonly string[], originalIp: string): string | undefined {
  if (addresses.includes(originalIp)) return originalIp;
  const v6 = originalIp.includes(":");
  return addresses.find((a) => a.includes(":") === v6) ?? addresses[0];
}

function routeToWorkload(
  state: StateView,
  source: Workload,
  w: Workload,
  targetPort: number,
  original: SocketAddress,
  service: Service | undefined,
): OutboundRoute {
  const ip = workloadIp(w.addresses, original.ip);
  if (!ip && w.hostname && w.tunnelProtocol !== "HBONE")
    return {
      kind: "direct",
      address: { ip: "", port: targetPort },
      hostname: w.hostname,
      destination: w,
      reason: "no-tunnel",
      ...(service ? { service } : {}),
    };
  if (!ip)
    return {
      kind: "reject",
      reason: w.hostname
        ? `workload ${w.namespace}/${w.name} is a hostname (${w.hostname}) with tunnel HBONE: weft does not tunnel to hostnames`
        : `workload ${w.namespace}/${w.name} has no address`,
      service,
    };
  // A workload-level waypoint applies when the client addressed the workload directly, unless
  // the source is (a replica of) that waypoint. Fail closed, as upstream ztunnel
  // (UnknownWaypoint): a waypoint that cannot be resolved rejects the connection rather than
  // letting it reach the workload around the waypoint's policy.
  if (!service && w.waypoint && !isFromWaypoint(state, source, w.waypoint)) {
    const wp = resolveWaypoint(state, source, w.waypoint);
    if (!wp) return { kind: "reject", reason: `waypoint of workload ${w.namespace}/${w.name} has no healthy endpoint` };
    return waypointRoute(wp, w.waypoint.hboneMtlsPort, original, undefined);
  }
  if (w.tunnelProtocol !== "HBONE") {
    return { kind: "direct", address: { ip, port: targetPort }, destination: w, reason: "no-tunnel", ...(service ? { service } : {}) };
  }
  return {
    kind: "hbone",
    hboneAddress: { ip, port: HBONE_PORT },
    authority: { ip, port: targetPort },
    expectedIdentities: [workloadIdentityUri(w), ...(service?.subjectAltNames ?? [])],
    destination: w,
    viaWaypoint: false,
    ...(service ? { service } : {}),
  };
}

function waypointRoute(wp: Workload, port: number, original: SocketAddress, service: Service | undefined): OutboundRoute {
  return {
    kind: "hbone",
    hboneAddress: { ip: workloadIp(wp.addresses, original.ip) ?? wp.addresses[0]!, port: port || HBONE_PORT },
    authority: original,
    expectedIdentities: [workloadIdentityUri(wp)],
    destination: wp,
    viaWaypoint: true,
    ...(service ? { service } : {}),
  };
}

/**
 * Whether the source is one of the workloads that make up the waypoint (any replica, healthy or
 * not): it has that workload's identity and one of its addresses (upstream ztunnel's
 * check_from_waypoint). Such traffic has been through the waypoint already; sending it back
 * would loop between replicas.
 */
function isFromWaypoint(state: StateView, source: Workload, gw: GatewayAddress): boolean {
  let members: readonly Workload[];
  if (gw.kind === "address") {
    const w = state.workloadByAddress(gw.network, gw.address);
    members = w ? [w] : [];
  } else {
    const svc = state.serviceByKey(`${gw.namespace}/${gw.hostname}`);
    members = svc ? state.endpointsOf(serviceKey(svc)) : [];
  }
  const id = workloadIdentityUri(source);
  return members.some((w) => workloadIdentityUri(w) === id && w.addresses.some((a) => source.addresses.includes(a)));
}

/** A waypoint given by hostname resolves to one healthy endpoint of that service; by address, to that workload. */
function resolveWaypoint(state: StateView, source: Workload, gw: GatewayAddress): Workload | undefined {
  if (gw.kind === "address") return state.workloadByAddress(gw.network, gw.address);
  const svc = state.serviceByKey(`${gw.namespace}/${gw.hostname}`);
  if (!svc) return undefined;
  const eps = selectEndpoints(state.endpointsOf(serviceKey(svc)), source, svc);
  return eps.find((w) => w.node === source.node) ?? eps[0];
}
