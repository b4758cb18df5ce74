/**
 * The HBONE client, in two steps the pool composes: `dialHbone` opens one mutual-TLS HTTP/2
 * connection to a destination's port 15008 (TCP connect deadline, TLS 1.3, ALPN h2, no SNI,
 * our workload certificate presented, the server's SPIFFE identity checked against the set
 * the destination may legitimately have), and `openTunnel` sends one CONNECT on such a
 * connection and returns the stream as the tunnel's Duplex once the server answered 200.
 * Every failure is an HboneError value; nothing here throws for network outcomes.
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { logger } from "../../common/log.js";
import { type Result, ok, err } from "../../common/result.js";
import type { Identity } from "../../common/spiffe.js";
import { type SocketAddress, canonicalIp, formatAddress } from "../../common/net/addr.js";
import { HboneError, connectError, connectTimeout, tlsError } from "./errors.js";
import { type TunnelRequest, connectHeaders } from "./headers.js";
import { h2Settings } from "./settings.js";
import { guardSession } from "./session-guard.js";
import { clientTlsOptions } from "./tls-context.js";
import { type ConnectionSecurity, recordSessionSecurity, securityOf } from "./connection-security.js";
import type { PoolDialOptions } from "./pool-connection.js";

const log = logger("ztunnel.hbone.client");

/** What dialHbone needs (the pool's dial options). */
export type DialOptions = PoolDialOptions;

/** An established HBONE connection. */
export interface HboneConnection {
  readonly session: http2.ClientHttp2Session;
  /** The server's verified SPIFFE identity. */
  readonly peerIdentity: Identity;
  /** The connection's TLS state (also readable from the session: `sessionSecurity`). */
  readonly security: ConnectionSecurity;
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
}

function tcpConnect(opts: DialOptions, target: string): Promise<Result<net.Socket, HboneError>> {
  return new Promise((resolve) => {
    const socket = net.connect({
      host: opts.destination.ip,
      port: opts.destination.port,
      noDelay: true,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(err(connectTimeout(target, opts.settings.connectTimeoutMs)));
    }, opts.settings.connectTimeoutMs);
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err(connectError(target, e)));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve(ok(socket));
    });
  });
}

function tlsConnect(
  socket: net.Socket,
  opts: DialOptions,
  target: string,
): Promise<Result<{ tls: tls.TLSSocket; peer: Identity }, HboneError>> {
  const policy = { expected: opts.expected };
  return new Promise((resolve) => {
    let accepted: Identity | undefined;
    const t = tls.connect({ socket, ...clientTlsOptions(opts.source, policy, (id) => (accepted = id)) });
    const fail = (e: unknown) => {
      clearTimeout(timer);
      t.destroy();
      socket.destroy();
      resolve(err(tlsError(target, e)));
    };
    const timer = setTimeout(
      () => fail(new Error(`handshake not done within ${opts.settings.handshakeTimeoutMs} ms`)),
      opts.settings.handshakeTimeoutMs,
    );
    const onClose = () => fail(new Error("connection closed during the handshake"));
    t.once("error", fail);
    t.once("close", onClose);
    t.once("secureConnect", () => {
      clearTimeout(timer);
      t.off("error", fail);
      t.off("close", onClose);
      t.on("error", (e) => log.debug({ err: e, target }, "hbone tls error"));
      if (t.alpnProtocol !== "h2") {
        t.destroy();
        return resolve(
          err(new HboneError("HBONE_ALPN", `hbone: ${target}: server negotiated alpn ${JSON.stringify(t.alpnProtocol)}, want h2`)),
        );
      }
      // checkServerIdentity ran (rejectUnauthorized) and recorded the accepted identity.
      if (!accepted) {
        t.destroy();
        return resolve(err(new HboneError("HBONE_IDENTITY", `hbone: ${target}: server identity was not checked`)));
      }
      resolve(ok({ tls: t, peer: accepted }));
    });
  });
}

/** Opens one HBONE connection (TCP + mTLS + HTTP/2). */
export async function dialHbone(opts: DialOptions): Promise<Result<HboneConnection, HboneError>> {
  const target = formatAddress(opts.destination);
  const tcp = await tcpConnect(opts, target);
  if (!tcp.ok) return tcp;
  const localAddress = { ip: canonicalIp(tcp.value.localAddress) ?? "", port: tcp.value.localPort ?? 0 };
  const secured = await tlsConnect(tcp.value, opts, target);
  if (!secured.ok) return secured;
  const { tls: t, peer } = secured.value;
  const security = securityOf(t, peer);
  return new Promise((resolve) => {
    const session = http2.connect(`http://${target}`, {
      createConnection: () => t,
      settings: h2Settings(opts.settings, false),
      maxSessionMemory: opts.settings.maxSessionMemoryMb,
    });
    const onError = (e: Error) => {
      session.destroy();
      resolve(err(new HboneError("HBONE_STREAM", `hbone: ${target}: http/2 session failed: ${e.message}`, { cause: e })));
    };
    // The server verifies our certificate after TLS 1.3 completes on our side, so a refusal
    // shows up here as the connection closing.
    const onClose = () => onError(new Error("connection closed by the server (was our certificate refused?)"));
    session.once("error", onError);
    session.once("close", onClose);
    guardSession(session, { probeTimeoutMs: opts.settings.protocolProbeTimeoutMs });
    session.once("connect", () => {
      session.off("error", onError);
      session.off("close", onClose);
      session.on("error", (e) => log.debug({ err: e, target }, "hbone session error"));
      try {
        session.setLocalWindowSize(opts.settings.connectionWindowBytes);
      } catch (e) {
        log.debug({ err: e }, "hbone: could not raise connection window");
      }
      recordSessionSecurity(session, security);
      resolve(ok({ session, peerIdentity: peer, security, localAddress, remoteAddress: opts.destination }));
    });
  });
}

function onTunnelError(this: http2.ClientHttp2Stream, e: Error): void {
  log.debug({ err: e, stream: this.id }, "hbone stream error");
}

/**
 * Sends CONNECT for `req` on an established session; resolves with the tunnel stream after a
 * 200, or an HBONE_STATUS error carrying the status for any other answer (the stream is then
 * released). `signal` abandons the wait and resets the stream.
 */
export function openTunnel(
  session: http2.ClientHttp2Session,
  req: TunnelRequest,
  signal?: AbortSignal,
): Promise<Result<http2.ClientHttp2Stream, HboneError>> {
  const target = formatAddress(req.target);
  const headers = connectHeaders(req);
  if (!headers.ok) return Promise.resolve(err(new HboneError("HBONE_STREAM", headers.error.message, { cause: headers.error })));
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers.value, { endStream: false });
  } catch (e) {
    return Promise.resolve(
      err(new HboneError("HBONE_STREAM", `hbone: connect ${target}: cannot open stream: ${(e as Error).message}`, { cause: e })),
    );
  }
  // Permanent: later errors surface through 'close' to whoever splices the tunnel. A module
  // function, not a closure: a closure here would keep this call's scope (signal, request)
  // alive for the tunnel's lifetime.
  stream.on("error", onTunnelError);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: Result<http2.ClientHttp2Stream, HboneError>) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      stream.off("close", onClose);
      resolve(r);
    };
    const onAbort = () => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      settle(err(new HboneError("HBONE_STREAM", `hbone: connect ${target}: aborted`, { cause: signal?.reason })));
    };
    const onClose = () =>
      settle(
        err(
          new HboneError(
            "HBONE_STREAM",
            `hbone: connect ${target}: stream closed before a response (rst code ${stream.rstCode ?? "none"})`,
            { refusedStream: stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM },
          ),
        ),
      );
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    stream.once("close", onClose);
    stream.once("response", (h) => {
      const status = Number(h[":status"]);
      if (status === 200) return settle(ok(stream));
      stream.close(http2.constants.NGHTTP2_CANCEL);
      settle(err(new HboneError("HBONE_STATUS", `hbone: connect ${target}: server answered ${status}`, { status })));
    });
  });
}
