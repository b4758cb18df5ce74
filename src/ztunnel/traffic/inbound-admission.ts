/**
 * Inbound admission as a pure function of state: may this HBONE stream (or captured plaintext
 * connection) reach a local workload, and where does it go? Status codes follow upstream
 * ztunnel: 400 for a non-CONNECT method, an unparsable authority or a target that does not
 * match the connection's destination; 503 for an unknown or non-local target; 401 when
 * authorization denies. The caller (inbound.ts) does the IO and answers 200 only after the
 * upstream connection is up.
 */
import type { Workload } from "../../common/model/workload.js";
import type { Identity } from "../../common/spiffe.js";
import { type SocketAddress, parseAddress } from "../../common/net/addr.js";
import type { StateView } from "../../proxy/state/state.js";

/** What L4 authorization sees of a connection. `sourceIdentity` is undefined for plaintext peers. */
export interface ConnectionFacts {
  readonly sourceIp: string;
  readonly sourcePort?: number;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sourceIdentity?: Identity;
}

export interface AuthorizationDecision {
  readonly allowed: boolean;
  /** Human-readable: which policy and rule decided, or why none applied. */
  readonly reason: string;
  /** `namespace/name` of the deciding policy, if one decided. */
  readonly policy?: string;
}

export type Authorize = (conn: ConnectionFacts, destination: Workload) => AuthorizationDecision;

export type InboundDecision =
  | { readonly ok: true; readonly workload: Workload; readonly upstream: SocketAddress; readonly authz: AuthorizationDecision }
  | {
      readonly ok: false;
      readonly status: 400 | 401 | 503;
      readonly reason: string;
      readonly workload?: Workload;
      readonly authz?: AuthorizationDecision;
    };

export interface HboneRequestFacts {
  readonly method: string;
  readonly authority: string;
  /** Local IP of the TLS connection (the workload IP the peer dialled); undefined if unknown. */
  readonly connectionDestinationIp?: string;
  readonly sourceIp: string;
  readonly sourcePort?: number;
  readonly peer: Identity;
}

export interface InboundContext {
  readonly state: StateView;
  /** This ztunnel's node: only workloads on it are served. */
  readonly node: string;
  /** Network of this node's workloads. */
  readonly network: string;
  readonly authorize: Authorize;
  /**
   * Is this one of the node's own addresses? Plaintext from the node itself (the kubelet's
   * health probes above all) is then admitted without authorization, as in Istio, whose capture
   * never takes the node's traffic to a pod (istio-cni SNATs it to 169.254.7.127 and lets it
   * pass): an ALLOW policy must not fail a pod's probes. Undefined: every source is authorized
   * (ztunnel `--node-traffic-authz enforce`).
   */
  readonly isNodeAddress?: (ip: string) => boolean;
}

/** The authorization recorded for plaintext from the node itself (isNodeAddress). */
export const NODE_TRAFFIC: AuthorizationDecision = Object.freeze({
  allowed: true,
  reason: "from the node itself (kubelet probes): not subject to policy, as in Istio",
});

export function admitHbone(ctx: InboundContext, req: HboneRequestFacts): InboundDecision {
  if (req.method !== "CONNECT") return { ok: false, status: 400, reason: `method ${req.method} not allowed, only CONNECT` };
  const target = parseAddress(req.authority);
  if (!target.ok) return { ok: false, status: 400, reason: `bad authority: ${target.error.message}` };
  if (req.connectionDestinationIp !== undefined && req.connectionDestinationIp !== target.value.ip) {
    return {
      ok: false,
      status: 400,
      reason: `target ${req.authority} does not match the connection's destination ${req.connectionDestinationIp}`,
    };
  }
  return admitLocal(ctx, target.value, {
    sourceIp: req.sourceIp,
    ...(req.sourcePort !== undefined ? { sourcePort: req.sourcePort } : {}),
    destinationIp: target.value.ip,
    destinationPort: target.value.port,
    sourceIdentity: req.peer,
  });
}

/** Plaintext that capture delivered to the inbound (15006) listener: the peer has no identity. */
export function admitPlaintext(ctx: InboundContext, destination: SocketAddress, source: { ip: string; port?: number }): InboundDecision {
  const fromNode = ctx.isNodeAddress?.(source.ip) === true;
  return admitLocal(fromNode ? { ...ctx, authorize: () => NODE_TRAFFIC } : ctx, destination, {
    sourceIp: source.ip,
    ...(source.port !== undefined ? { sourcePort: source.port } : {}),
    destinationIp: destination.ip,
    destinationPort: destination.port,
  });
}

function admitLocal(ctx: InboundContext, target: SocketAddress, conn: ConnectionFacts): InboundDecision {
  const workload = ctx.state.workloadByAddress(ctx.network, target.ip);
  if (!workload) return { ok: false, status: 503, reason: `unknown target ${target.ip}: no workload has this address` };
  if (workload.node !== ctx.node) {
    return {
      ok: false,
      status: 503,
      reason: `target ${target.ip} (${workload.namespace}/${workload.name}) runs on node ${workload.node}, not on ${ctx.node}`,
      workload,
    };
  }
  if (workload.tunnelProtocol !== "HBONE") {
    return { ok: false, status: 503, reason: `target ${workload.namespace}/${workload.name} is not enrolled in the mesh`, workload };
  }
  const authz = ctx.authorize(conn, workload);
  if (!authz.allowed) return { ok: false, status: 401, reason: `denied: ${authz.reason}`, workload, authz };
  return { ok: true, workload, upstream: target, authz };
}
