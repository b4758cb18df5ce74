/**
 * Tunnels for an original-destination listener (workload-addressed traffic, Istio's "direct pod
 * access"): the CONNECT is already answered; the first bytes go through the HTTP inspector
 * (inspect.ts) when a candidate chain requires an application protocol, the filter chain is
 * chosen (envoy/filter-chain.ts), and the stream is served by that chain's filter: HTTP (the
 * shared Downstream, with the chain as the tunnel's listener) or a TCP proxy spliced here. No
 * chain: the stream is reset, as Envoy closes a connection no filter chain matches. No
 * detection timeout (Istio's default protocolDetectionTimeout 0s): a server-first protocol on a
 * workload port waits for its client, as in Istio.
 */
import { logger } from "../../common/log.js";
import type { TerminatedTunnel } from "../../proxy/hbone/server.js";
import { spliceDuplexes } from "../../proxy/hbone/splice.js";
import type { DecodedOriginalDst } from "../envoy/decode.js";
import { needsDetection, selectChain } from "../envoy/filter-chain.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";
import type { Downstream } from "./downstream.js";
import { type Detected, inspectProtocol } from "./inspect.js";
import { tcpClosed, tcpDenied, tcpUpstream } from "./tcp.js";

const log = logger("waypoint.direct");

/** RST_STREAM codes (RFC 9113 §7). */
const NO_ERROR = 0x0;
const CANCEL = 0x8;

/** The tunnel's facts before a chain is chosen (the listener is set per chain). */
export type DirectTunnel = Omit<TunnelContext, "listener">;

export function serveOriginalDst(
  rt: ProxyRuntime,
  downstream: Downstream,
  terminated: TerminatedTunnel,
  tunnel: DirectTunnel,
  candidates: DecodedOriginalDst["chains"],
): void {
  const stream = terminated.stream;
  stream.on("error", (e) => log.debug({ err: e }, "direct tunnel stream error"));
  const dispatch = (detected: Detected | undefined) => {
    const detectedHttp = detected && detected !== "none" ? detected : undefined;
    const chain = selectChain(candidates, tunnel.target.ip, tunnel.target.port, detectedHttp);
    if (!chain) {
      log.info({ target: tunnel.target, detected }, "no filter chain matches the connection: closed");
      return void terminated.reset(CANCEL);
    }
    const ctx: TunnelContext = { ...tunnel, listener: { name: chain.name, addresses: [tunnel.target], filter: chain.filter } };
    if (chain.filter.kind === "http") {
      downstream.serve(stream, ctx); // resumes the stream the inspector paused
      return;
    }
    const cluster = chain.filter.cluster;
    if (tcpDenied(rt, ctx)) return void terminated.reset(CANCEL);
    const started = Date.now();
    void tcpUpstream(rt, ctx, cluster).then((up) => {
      if (!up.ok) {
        log.info({ target: tunnel.target, reason: up.error }, "direct tcp_proxy failed");
        return void terminated.reset(CANCEL);
      }
      if (stream.destroyed) {
        up.value.done();
        return void up.value.upstream.destroy();
      }
      const closed = tcpClosed(ctx, cluster, up.value, started);
      void spliceDuplexes(stream, up.value.upstream).then((outcome) => {
        // A failed upstream is a reset of the tunnel, not a clean end (both engines).
        if (outcome.error) terminated.reset(CANCEL);
        closed(outcome);
      });
      stream.resume(); // paused for the inspector; the splice reads with 'data' listeners
    });
  };
  if (!needsDetection(candidates)) return dispatch(undefined);
  let seen: Buffer = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    seen = seen.length ? Buffer.concat([seen, c]) : c;
    const d = inspectProtocol(seen);
    if (d === undefined) return;
    decided(d);
  };
  // Ended before the inspector could decide (a few bytes, then half-close): nothing to replay them into.
  const onEnd = () => {
    stream.off("data", onData);
    log.debug({ target: tunnel.target, bytes: seen.length }, "tunnel ended before its protocol was detected");
    terminated.reset(NO_ERROR);
  };
  const decided = (d: Detected) => {
    stream.off("data", onData);
    stream.off("end", onEnd);
    stream.pause();
    if (seen.length) stream.unshift(seen);
    dispatch(d);
  };
  stream.on("data", onData);
  stream.once("end", onEnd);
}
