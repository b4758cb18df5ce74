/**
 * The Node engine's pooled connection (pool-connection.ts): `dialHbone`'s TLSSocket + http2
 * session, CONNECT by `openTunnel`, PING keepalive by keepalive.ts. Tunnels are the HTTP/2
 * streams themselves.
 */
import type http2 from "node:http2";
import { logger } from "../../common/log.js";
import { type Result, ok } from "../../common/result.js";
import { formatAddress } from "../../common/net/addr.js";
import { type HboneConnection, dialHbone, openTunnel } from "./client.js";
import type { HboneError } from "./errors.js";
import type { TunnelRequest } from "./headers.js";
import { startKeepalive } from "./keepalive.js";
import type { PoolConnection, PoolDialOptions } from "./pool-connection.js";

const log = logger("ztunnel.hbone.pool");

class NodePoolConnection implements PoolConnection<http2.ClientHttp2Stream> {
  constructor(readonly conn: HboneConnection) {}
  get localAddress() {
    return this.conn.localAddress;
  }
  get remoteAddress() {
    return this.conn.remoteAddress;
  }
  get peerIdentity() {
    return this.conn.peerIdentity;
  }
  get closed(): boolean {
    return this.conn.session.destroyed || this.conn.session.closed;
  }
  peerMaxConcurrentStreams(): number | undefined {
    return this.conn.session.remoteSettings?.maxConcurrentStreams;
  }
  open(req: TunnelRequest, signal?: AbortSignal): Promise<Result<http2.ClientHttp2Stream, HboneError>> {
    return openTunnel(this.conn.session, req, signal);
  }
  onTunnelClosed(t: http2.ClientHttp2Stream, fn: () => void): void {
    t.once("close", fn);
  }
  onGoaway(fn: () => void): void {
    this.conn.session.once("goaway", fn);
  }
  onClose(fn: (error?: Error) => void): void {
    let error: Error | undefined;
    this.conn.session.on("error", (e) => (error ??= e));
    this.conn.session.once("close", () => fn(error));
  }
  close(): void {
    if (!this.conn.session.closed) this.conn.session.close();
  }
  destroy(): void {
    this.conn.session.destroy();
  }
}

/** Dials one Node-engine HBONE connection with keepalive running. */
export async function dialNodeConnection(opts: PoolDialOptions): Promise<Result<PoolConnection<http2.ClientHttp2Stream>, HboneError>> {
  const r = await dialHbone(opts);
  if (!r.ok) return r;
  startKeepalive(r.value.session, {
    intervalMs: opts.settings.pingIntervalMs,
    timeoutMs: opts.settings.pingTimeoutMs,
    onTimeout: () =>
      log.info({ destination: formatAddress(opts.destination) }, "hbone: server stopped answering pings, dropping connection"),
  });
  return ok(new NodePoolConnection(r.value));
}
