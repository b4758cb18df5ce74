/**
 * Who the client of an HBONE stream is (ztunnel's inbound and the waypoint both need it). Pure.
 */
import type { SocketAddress } from "../../common/net/addr.js";
import type { StateView } from "../state/state.js";
import type { HboneStreamRequest } from "./server.js";

/**
 * The source address authorization and the upstream connection use. The `forwarded: for=`
 * header is written by the peer, so it is believed only when it names a workload whose
 * identity is the peer's own (a ztunnel speaking for its local pod); otherwise a peer could
 * claim any source IP and slip past `ipBlocks` rules. Anything else falls back to the TCP
 * connection's remote address. (A waypoint forwarding another workload's address is not
 * believed yet: the waypoint's own address is used.)
 */
export function trustedClientAddress(
  ctx: { readonly state: StateView; readonly network: string },
  req: Pick<HboneStreamRequest, "forwarded" | "remoteAddress" | "peerIdentity">,
): SocketAddress {
  const claimed = req.forwarded.for;
  if (!claimed) return req.remoteAddress;
  const w = ctx.state.workloadByAddress(ctx.network, claimed.ip);
  const id = req.peerIdentity;
  if (w && w.trustDomain === id.trustDomain && w.namespace === id.namespace && w.serviceAccount === id.serviceAccount) return claimed;
  return req.remoteAddress;
}
