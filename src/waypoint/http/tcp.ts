/**
 * tcp_proxy filters: the tunnel is passed through byte for byte to an endpoint of the filter's
 * cluster (the cluster's load balancer, without a hash; for an ORIGINAL_DST cluster, the tunnel's
 * original destination), over HBONE or TCP like HTTP requests. No L7 decisions, as Envoy's TCP
 * proxy. Each connection holds one of the cluster's max_connections (overflow: refused, UO); a
 * failed connect counts for outlier detection. The listener's network RBAC filters (the L4 parts
 * of its AuthorizationPolicies) decide first. Two entry points: a VIP listener's decision before
 * the CONNECT is answered (the HBONE server splices), and a filter chain chosen after the answer
 * (original-destination listeners: the caller splices).
 */
import type { Duplex } from "node:stream";
import { logger } from "../../common/log.js";
import { type SocketAddress, formatAddress } from "../../common/net/addr.js";
import { type Result, ok, err } from "../../common/result.js";
import type { HboneDecision } from "../../proxy/hbone/server.js";
import { toUri } from "../../common/spiffe.js";
import { authorizeConnection } from "./authz-step.js";
import type { SpliceOutcome } from "../../proxy/hbone/splice.js";
import type { Endpoint } from "../envoy/types.js";
import { originalDstEndpoint } from "../route/endpoint.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";

const log = logger("waypoint.tcp");

/** The network RBAC filters' denial of this connection (logged), or undefined when it may pass. */
export function tcpDenied(rt: ProxyRuntime, ctx: TunnelContext): string | undefined {
  const denied = authorizeConnection(rt, ctx);
  if (denied)
    log.info(
      { listener: ctx.listener.name, client: formatAddress(ctx.client), peer: toUri(ctx.peer), details: denied },
      "tcp connection denied",
    );
  return denied;
}

/** A connected tcp_proxy upstream; `done` once when the connection ends. */
export interface TcpUpstream {
  readonly upstream: Duplex;
  readonly endpoint: SocketAddress;
  readonly done: () => void;
}

/** The connected upstream of a tcp_proxy to `clusterName`, or why there is none (with Envoy's flag). */
export async function tcpUpstream(rt: ProxyRuntime, ctx: TunnelContext, clusterName: string): Promise<Result<TcpUpstream, string>> {
  const cluster = rt.l7.cluster(clusterName);
  if (!cluster) return err(`tcp_proxy: cluster ${clusterName} not found (NC)`);
  let ep: Endpoint | undefined;
  if (cluster.endpointsFrom.kind === "original_dst") ep = originalDstEndpoint(ctx.target);
  else {
    const set = rt.l7.endpointsOf(cluster);
    ep = set ? rt.clusters.pick(cluster, set) : undefined;
  }
  if (!ep) return err(`tcp_proxy: cluster ${clusterName} has no healthy endpoint (UH)`);
  // Envoy's tcp_proxy has no pending queue: a connection over max_connections is refused.
  const admitted = rt.clusters.admit(cluster, ep, true, false);
  if (!admitted.ok) return err(`tcp_proxy: ${admitted.reason} (UO)`);
  const workload = rt.state.workloadByAddress(rt.network, ep.ip);
  const up = await rt.openTunnel(ep, workload, ctx.client, cluster.service?.host);
  if (!up.ok) {
    admitted.done({ kind: "local", failure: "connect" });
    return err(`tcp_proxy: ${up.error.message} (UF)`);
  }
  return ok({ upstream: up.value, endpoint: { ip: ep.ip, port: ep.port }, done: () => admitted.done(undefined) });
}

/** Logs the end of one passed-through connection and gives back its max_connections place. */
export function tcpClosed(ctx: TunnelContext, clusterName: string, up: TcpUpstream, started: number) {
  return (o: SpliceOutcome): void => {
    up.done();
    log.info(
      {
        listener: ctx.listener.name,
        cluster: clusterName,
        upstream: formatAddress(up.endpoint),
        client: formatAddress(ctx.client),
        durationMs: Date.now() - started,
        error: o.error?.message,
      },
      "tcp_proxy connection closed",
    );
  };
}

export async function tcpPassthrough(rt: ProxyRuntime, ctx: TunnelContext, clusterName: string): Promise<HboneDecision> {
  const denied = tcpDenied(rt, ctx);
  if (denied) return { kind: "reject", status: 401, reason: `tcp_proxy: ${denied}` }; // as ztunnel refuses an HBONE tunnel by policy
  const up = await tcpUpstream(rt, ctx, clusterName);
  if (!up.ok) return { kind: "reject", status: 503, reason: up.error };
  return { kind: "tunnel", upstream: up.value.upstream, onClose: tcpClosed(ctx, clusterName, up.value, Date.now()) };
}
