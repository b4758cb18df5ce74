/**
 * The upstream HTTP protocol of a waypoint's service cluster, as istiod chooses it
 * (pilot/pkg/networking/core: buildWaypointInboundVIPCluster -> buildCluster's
 * setUpstreamProtocol, then applyConnectionPool, then applyH2Upgrade), pure:
 *
 * 1. The port's protocol (Istio's ConvertProtocol: Service `appProtocol`, with Kubernetes'
 *    `kubernetes.io/h2c` = HTTP2 and `kubernetes.io/ws` = HTTP; else the port name, `grpc-web`
 *    first, then the prefix before `-`; unknown names on well-known ports 25/53/3306/27017 are
 *    TCP): HTTP2, GRPC and GRPC-Web -> explicit HTTP/2; an unknown protocol -> the downstream's
 *    (Istio sniffs such ports); anything else -> nothing set (Envoy: HTTP/1.1).
 * 2. DestinationRule `connectionPool.http.useClientProtocol: true` -> the downstream's.
 * 3. `connectionPool.http.h2UpgradePolicy`: UPGRADE upgrades to HTTP/2 if nothing was set in 1-2
 *    (so an explicit `http` port, or a TCP one, whose tcp_proxy ignores it); DO_NOT_UPGRADE and
 *    DEFAULT leave it (the mesh-wide default, meshConfig.h2UpgradePolicy, is DO_NOT_UPGRADE; weft
 *    has no mesh setting for it).
 *
 * The connection pool that applies is the cluster's merged DestinationRule policy
 * (traffic-policy.ts effectivePolicy: top level, port level, subset, Istio's merge).
 */
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { UpstreamProtocol } from "./envoy-types.js";
import type { PolicyParts } from "./traffic-policy.js";

export type IstioProtocol =
  | "HTTP"
  | "HTTP2"
  | "GRPC"
  | "GRPC-Web"
  | "HTTPS"
  | "HTTP_PROXY"
  | "TCP"
  | "TLS"
  | "UDP"
  | "Mongo"
  | "Redis"
  | "MySQL"
  | "UnsupportedProtocol";

const NAMES: Readonly<Record<string, IstioProtocol>> = {
  tcp: "TCP",
  udp: "UDP",
  grpc: "GRPC",
  "grpc-web": "GRPC-Web",
  http: "HTTP",
  http_proxy: "HTTP_PROXY",
  http2: "HTTP2",
  https: "HTTPS",
  tls: "TLS",
  mongo: "Mongo",
  redis: "Redis",
  mysql: "MySQL",
};
const WELL_KNOWN_TCP = new Set([25, 53, 3306, 27017]);

/** Istio's ConvertProtocol (pkg/config/kube/conversion.go). */
export function istioProtocol(p: { port: number; name?: string; protocol?: string; appProtocol?: string }): IstioProtocol {
  if (p.protocol === "UDP") return "UDP";
  let name = p.name ?? "";
  if (p.appProtocol !== undefined) {
    name = p.appProtocol;
    if (name === "kubernetes.io/h2c") return "HTTP2";
    if (name === "kubernetes.io/ws") return "HTTP";
    if (name === "kubernetes.io/wss") return "HTTPS";
  }
  if (name.toLowerCase().startsWith("grpc-web")) return "GRPC-Web";
  const dash = name.indexOf("-");
  const parsed = NAMES[(dash >= 0 ? name.slice(0, dash) : name).toLowerCase()] ?? "UnsupportedProtocol";
  return parsed === "UnsupportedProtocol" && WELL_KNOWN_TCP.has(p.port) ? "TCP" : parsed;
}

export interface HttpPoolSettings {
  readonly h2UpgradePolicy?: "DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE";
  readonly useClientProtocol?: boolean;
}

/** The cluster's upstream protocol; undefined = no protocol options (Envoy's HTTP/1.1). */
export function upstreamProtocol(proto: IstioProtocol, pool: HttpPoolSettings | undefined): UpstreamProtocol | undefined {
  let out: UpstreamProtocol | undefined;
  if (proto === "HTTP2" || proto === "GRPC" || proto === "GRPC-Web") out = "HTTP2";
  else if (proto === "UnsupportedProtocol") out = "DOWNSTREAM";
  if (pool?.useClientProtocol) return "DOWNSTREAM";
  if (pool?.h2UpgradePolicy === "UPGRADE" && out === undefined) out = "HTTP2";
  return out;
}

/** The connectionPool.http in force for a cluster: `parts` is its merged DestinationRule policy (traffic-policy.ts). */
export function httpPoolOf(parts: PolicyParts | undefined): HttpPoolSettings | undefined {
  const pool = parts?.connectionPool;
  const http = isPlainObject(pool) && isPlainObject(pool.http) ? pool.http : undefined;
  if (!http) return undefined;
  const policy = http.h2UpgradePolicy;
  return {
    ...(policy === "DEFAULT" || policy === "DO_NOT_UPGRADE" || policy === "UPGRADE" ? { h2UpgradePolicy: policy } : {}),
    ...(http.useClientProtocol === true ? { useClientProtocol: true } : {}),
  };
}
