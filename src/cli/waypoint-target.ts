/**
 * Which waypoint serves a destination, from a ztunnel's config dump (what `weft authz explain`
 * asks at L7 when no `--waypoint` is given), as ztunnel itself decides: a service VIP is served by
 * the Service's `waypoint`, a workload address by the workload's own `waypoint` (a workload
 * waypoint); the waypoint is a Service (by hostname, or by VIP for an address), and its proxies
 * are the workloads that back that Service. Pure.
 */
import { type Result, ok, err } from "../common/result.js";
import type { DumpedWorkload } from "./workload-ref.js";

/** Istio's GatewayAddress as the config dump shows it. */
export type DumpedGatewayAddress =
  | { readonly kind: "hostname"; readonly namespace: string; readonly hostname: string }
  | { readonly kind: "address"; readonly address: string };

export interface DumpedService {
  readonly namespace: string;
  readonly name: string;
  readonly hostname: string;
  readonly addresses?: ReadonlyArray<{ readonly address: string }>;
  readonly waypoint?: DumpedGatewayAddress;
}

/** A dumped workload with the services it backs (`namespace/hostname` keys). */
export type DumpedEndpoint = DumpedWorkload & { readonly services?: Readonly<Record<string, unknown>> };

export interface WaypointTarget {
  /** What the destination address is: `Service ns/name` or `Pod ns/name`. */
  readonly destination: string;
  /** The waypoint's Service. */
  readonly waypoint: DumpedService;
  /** Its proxies, healthy ones first. */
  readonly proxies: readonly DumpedEndpoint[];
}

const key = (s: Pick<DumpedService, "namespace" | "hostname">) => `${s.namespace}/${s.hostname}`;

function waypointService(g: DumpedGatewayAddress, services: readonly DumpedService[]): DumpedService | undefined {
  return g.kind === "hostname"
    ? services.find((s) => s.hostname === g.hostname && s.namespace === g.namespace)
    : services.find((s) => (s.addresses ?? []).some((a) => a.address === g.address));
}

/** The workloads backing a waypoint's Service, healthy ones first. */
const proxiesOf = (waypoint: DumpedService, workloads: readonly DumpedEndpoint[]): DumpedEndpoint[] =>
  workloads
    .filter((w) => Object.hasOwn(w.services ?? {}, key(waypoint)))
    .sort((a, b) => Number(b.status === "HEALTHY") - Number(a.status === "HEALTHY"));

const describe = (g: DumpedGatewayAddress): string => (g.kind === "hostname" ? `${g.namespace}/${g.hostname}` : g.address);

export function waypointFor(
  dstIp: string,
  services: readonly DumpedService[],
  workloads: readonly DumpedEndpoint[],
): Result<WaypointTarget> {
  const svc = services.find((s) => (s.addresses ?? []).some((a) => a.address === dstIp));
  const wl = svc ? undefined : workloads.find((w) => w.addresses.includes(dstIp));
  if (!svc && !wl) return err(new Error(`no service or workload has address ${dstIp}`));
  const destination = svc ? `Service ${svc.namespace}/${svc.name}` : `Pod ${wl!.namespace}/${wl!.name}`;
  const g = svc ? svc.waypoint : wl!.waypoint ? (wl!.waypoint as DumpedGatewayAddress) : undefined;
  if (!g)
    return err(
      new Error(
        `${destination} (${dstIp}) has no waypoint (no istio.io/use-waypoint applies): L7 policies are not enforced for it; ` +
          "ask its ztunnel (without L7 flags) or give --waypoint",
      ),
    );
  const waypoint = waypointService(g, services);
  if (!waypoint) return err(new Error(`${destination}: its waypoint ${describe(g)} is no service the mesh knows`));
  const proxies = proxiesOf(waypoint, workloads);
  if (proxies.length === 0) return err(new Error(`${destination}: waypoint ${waypoint.namespace}/${waypoint.name} has no proxy pod`));
  return ok({ destination, waypoint, proxies });
}

/** A waypoint the mesh uses and its proxies (healthy ones first). */
export interface UsedWaypoint {
  readonly waypoint: DumpedService;
  readonly proxies: readonly DumpedEndpoint[];
}

/**
 * Every waypoint some service or workload uses (`weft dashboard` scrapes their proxies), sorted
 * by namespace and name; a waypoint the mesh does not know as a service, or without proxies, is
 * left out (authz explain names those problems per destination).
 */
export function usedWaypoints(services: readonly DumpedService[], workloads: readonly DumpedEndpoint[]): UsedWaypoint[] {
  const refs = [...services.map((s) => s.waypoint), ...workloads.map((w) => w.waypoint as DumpedGatewayAddress | undefined)];
  const used = new Map<string, DumpedService>();
  for (const g of refs) {
    const s = g ? waypointService(g, services) : undefined;
    if (s) used.set(key(s), s);
  }
  return [...used.values()]
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
    .map((waypoint) => ({
      waypoint,
      proxies: proxiesOf(waypoint, workloads),
    }))
    .filter((u) => u.proxies.length > 0);
}
