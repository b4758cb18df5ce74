/**
 * Workload-addressed traffic at a waypoint (a pod whose Workload names the waypoint, `istio.io/
 * waypoint-for: workload` or `all`): what Istio's waypoint does in its `main_internal` listener
 * (pilot/pkg/networking/core/listener_waypoint.go, "Direct pod access chain"), in weft's
 * one-listener-per-chain-group shape. Pure.
 *
 * - Listener `direct|<waypoint host>`: `use_original_dst` (the original destination is the
 *   HBONE CONNECT authority, `<pod IP>:<port>`, any port), an HTTP inspector, and Istio's two
 *   filter chains, both matching the bound workloads' addresses (`prefix_ranges`, /32 or /128):
 *   `direct-http` when the inspector detects `http/1.0`, `http/1.1` or `h2c` (an HTTP connection
 *   manager with AUTO codec and Istio's inline default route: virtual host `inbound|http|0`,
 *   domains `*`, route `default` to `encap`, no timeout), else `direct-tcp` (a TCP proxy to
 *   `encap`).
 * - Cluster `encap`: ORIGINAL_DST with CLUSTER_PROVIDED load balancing, the upstream protocol
 *   the downstream's (Istio's passthrough protocol options). Istio's `encap` leads to its
 *   `connect_originate` internal listener, which opens HBONE to the pod; weft's waypoint opens
 *   that HBONE tunnel itself (through the pod's ztunnel, expecting the pod's identity), as it
 *   does for every endpoint.
 *
 * No Gateway API / VirtualService route applies to a pod address (Istio: policy binding by
 * VIP+host is inapplicable for direct pod access); L7 processing is telemetry, access log,
 * tracing headers, and the L7 policies of the waypoint's filters.
 */
import type { Workload } from "../../../common/model/workload.js";
import type { Cluster, FilterChain, HttpFilterConfig, Listener, ListenerAccessLog, RouteConfiguration } from "./envoy-types.js";
import { clusterPolicy } from "./cluster-policy.js";

export const ENCAP_CLUSTER = "encap";
/** The application protocols Envoy's HTTP inspector reports for plaintext HTTP (Istio's plaintextHTTPALPNs). */
export const PLAINTEXT_HTTP_PROTOCOLS = ["http/1.0", "http/1.1", "h2c"] as const;

export function directListenerName(waypointHost: string): string {
  return `direct|${waypointHost}`;
}

/** The workloads whose own traffic goes to the waypoint with this service hostname. */
export function workloadsBoundTo(workloads: Iterable<Workload>, namespace: string, waypointHost: string): Workload[] {
  const out: Workload[] = [];
  for (const w of workloads)
    if (w.waypoint?.kind === "hostname" && w.waypoint.hostname === waypointHost && w.waypoint.namespace === namespace) out.push(w);
  return out.sort((a, b) => (a.uid < b.uid ? -1 : 1));
}

const ENCAP_ROUTES: RouteConfiguration = {
  name: ENCAP_CLUSTER,
  virtualHosts: [
    {
      name: "inbound|http|0",
      domains: ["*"],
      routes: [{ name: "default", match: { prefix: "/" }, route: { cluster: ENCAP_CLUSTER, timeout: { seconds: 0 } } }],
    },
  ],
};

export const ENCAP: Cluster = {
  name: ENCAP_CLUSTER,
  type: "ORIGINAL_DST",
  connectTimeout: { seconds: 10 },
  lbPolicy: "CLUSTER_PROVIDED",
  // No DestinationRule applies to it: Istio's default thresholds (no circuit breaking).
  traffic: clusterPolicy(undefined).traffic,
  upstreamProtocol: "DOWNSTREAM",
  services: [],
  subset: "",
};

/** The authorization filters of the direct chains: HTTP filters before the router, network RBAC before the tcp_proxy; the HTTP chain's access log. */
export interface DirectFilters {
  readonly http: readonly HttpFilterConfig[];
  readonly network: readonly HttpFilterConfig[];
  readonly accessLog?: readonly ListenerAccessLog[];
}

/**
 * The waypoint's listener for the bound workloads' addresses, or undefined when none is bound
 * or none has an address. `hbonePort` is the waypoint's HBONE port (where the traffic arrives).
 */
export function directListener(
  waypointHost: string,
  workloads: readonly Workload[],
  hbonePort: number,
  filters: DirectFilters = { http: [], network: [] },
): Listener | undefined {
  const addresses = [...new Set(workloads.flatMap((w) => w.addresses))].sort();
  if (addresses.length === 0) return undefined;
  const prefixRanges = addresses.map((a) => ({ addressPrefix: a, prefixLen: a.includes(":") ? 128 : 32 }));
  const chains: FilterChain[] = [
    {
      name: "direct-http",
      prefixRanges,
      applicationProtocols: [...PLAINTEXT_HTTP_PROTOCOLS],
      filter: {
        kind: "http",
        statPrefix: "direct-http",
        codecType: "AUTO",
        routeConfig: ENCAP_ROUTES,
        ...(filters.http.length ? { httpFilters: filters.http } : {}),
        ...(filters.accessLog?.length ? { accessLog: filters.accessLog } : {}),
      },
    },
    {
      name: "direct-tcp",
      prefixRanges,
      applicationProtocols: [],
      filter: {
        kind: "tcp",
        statPrefix: "direct-tcp",
        cluster: ENCAP_CLUSTER,
        ...(filters.network.length ? { networkFilters: filters.network } : {}),
      },
    },
  ];
  return { name: directListenerName(waypointHost), address: { address: "0.0.0.0", portValue: hbonePort }, additionalAddresses: [], chains };
}
