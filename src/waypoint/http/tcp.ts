/**
 * tcp_proxy listeners: the tunnel is passed through byte for byte to an endpoint of the
 * listener's cluster (the cluster's load balancer, without a hash), over HBONE or TCP like HTTP requests; the HBONE server
 * splices the two. No L7 decisions, as Envoy's TCP proxy. Each connection holds one of the
 * cluster's max_connections (overflow: refused, UO); a failed connect counts for outlier
 * detection. The listener's network RBAC filters (the L4 parts of its AuthorizationPolicies)
 * decide first.
 */
import { logger } from "../../common/log.js";
import { formatAddress } from "../../common/net/addr.js";
import type { HboneDecision } from "../../proxy/hbone/server.js";
import { toUri } from "../../common/spiffe.js";
import { authorizeConnection } from "./authz-step.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";

const log = logger("waypoint.tcp");

export async function tcpPassthrough(rt: ProxyRuntime, ctx: TunnelContext, clusterName: string): Promise<HboneDecision> {
  const denied = authorizeConnection(rt, ctx);
  if (denied) {
    log.info(
      { listener: ctx.listener.name, client: formatAddress(ctx.client), peer: toUri(ctx.peer), details: denied },
      "tcp connection denied",
    );
    return { kind: "reject", status: 401, reason: `tcp_proxy: ${denied}` }; // as ztunnel refuses an HBONE tunnel by policy
  }
  const cluster = rt.l7.cluster(clusterName);
  if (!cluster) return { kind: "reject", status: 503, reason: `tcp_proxy: cluster ${clusterName} not found (NC)` };
  const set = rt.l7.endpointsOf(cluster);
  const ep = set ? rt.clusters.pick(cluster, set) : undefined;
  if (!ep) return { kind: "reject", status: 503, reason: `tcp_proxy: cluster ${clusterName} has no healthy endpoint (UH)` };
  // Envoy's tcp_proxy has no pending queue: a connection over max_connections is refused.
  const admitted = rt.clusters.admit(cluster, ep, true, false);
  if (!admitted.ok) return { kind: "reject", status: 503, reason: `tcp_proxy: ${admitted.reason} (UO)` };
  const workload = rt.state.workloadByAddress(rt.network, ep.ip);
  const up = await rt.openTunnel(ep, workload, ctx.client, cluster.service?.host);
  if (!up.ok) {
    admitted.done({ kind: "local", failure: "connect" });
    return { kind: "reject", status: 503, reason: `tcp_proxy: ${up.error.message} (UF)` };
  }
  const started = Date.now();
  return {
    kind: "tunnel",
    upstream: up.value,
    onClose: (o) => {
      admitted.done(undefined);
      log.info(
        {
          listener: ctx.listener.name,
          cluster: clusterName,
          upstream: formatAddress(ep),
          client: formatAddress(ctx.client),
          durationMs: Date.now() - started,
          error: o.error?.message,
        },
        "tcp_proxy connection closed",
      );
    },
  };
}
