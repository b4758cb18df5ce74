/**
 * How ztunnel opens plain TCP connections to workloads (inbound upstreams) and to destinations
 * outside the mesh (passthrough). One interface, so the capture mode decides the mechanics:
 * without capture a plain `net.connect` (optionally bound to a local source address: on
 * loopback any 127.x address is local, which the tests use to keep client IPs); with capture a
 * transparent, marked socket (native addon) so the pod sees the original client address and
 * the redirection does not capture ztunnel's own packets again.
 *
 * Each dialer gives the connection in two forms: `dial` a Node socket (the Node HBONE engine,
 * plaintext inbound, passthrough), `dialFd` a connected descriptor the addon dialled, with no
 * Node socket at any point (the native HBONE engine's inbound tunnels, native-dial.ts). Both
 * forms keep the same source address, port cursor, timeout, abort and error wording.
 */
import net from "node:net";
import { type Result, ok, err } from "../../common/result.js";
import { type SocketAddress, canonicalIp, formatAddress, sameFamily, wildcardFor } from "../../common/net/addr.js";
import { connectTransparent } from "../../common/native/native.js";
import { PortCursor } from "./source-ports.js";
import { nativeDial } from "./native-dial.js";
import type { UpstreamFd } from "./upstream-fd.js";

export interface DialRequest {
  readonly target: SocketAddress;
  /** Source IP to use if possible (the original client's), else the kernel chooses. */
  readonly sourceIp?: string;
  readonly timeoutMs?: number;
  /** Abandons the dial (the HBONE stream asking for it was reset): the socket is destroyed. */
  readonly signal?: AbortSignal;
}

export interface Dialer {
  dial(req: DialRequest): Promise<Result<net.Socket>>;
  /** The same connection as a descriptor dialled by the addon (the native HBONE engine's upstream). */
  dialFd(req: DialRequest): Promise<Result<UpstreamFd>>;
}

/** One connect attempt from `localAddress`:`localPort` (absent: unbound; port 0: the kernel's). */
type Attempt<T> = (timeoutMs: number, localAddress?: string, localPort?: number) => Promise<Result<T>>;

/** Bind-before-connect attempts on explicit ports before leaving the choice to the kernel. */
const EXPLICIT_PORT_ATTEMPTS = 8;

/**
 * Plain sockets; `bindSource` keeps the client's IP when it is local (loopback set-ups). A
 * bound source gets its port from a round-robin cursor (see source-ports.ts: the kernel's own
 * choice slows to ~100 connects/s once thousands of TIME_WAIT ports exist on that IP); a port
 * in use (EADDRINUSE, EADDRNOTAVAIL) is skipped, and after a few the kernel chooses. A client IP
 * that is not local (a peer ztunnel on another host: bind says EADDRNOTAVAIL) is not kept: the
 * kernel chooses the source (found by the upstream ztunnel interop test, test/interop).
 */
export class PlainDialer implements Dialer {
  private readonly ports = new PortCursor();

  constructor(private readonly opts: { bindSource: boolean; timeoutMs: number } = { bindSource: false, timeoutMs: 10_000 }) {}

  dial(req: DialRequest): Promise<Result<net.Socket>> {
    return this.withSourcePort(req, (t, ip, port) => connectOnce(req, t, ip, port));
  }

  dialFd(req: DialRequest): Promise<Result<UpstreamFd>> {
    return this.withSourcePort(req, (t, ip, port) => connectFdOnce(req, t, ip === undefined ? undefined : { ip, port: port ?? 0 }));
  }

  private async withSourcePort<T>(req: DialRequest, attempt: Attempt<T>): Promise<Result<T>> {
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs;
    // A client of the other family (IPv4 client, IPv6 destination) cannot be kept as the source.
    const sourceIp = this.opts.bindSource && req.sourceIp && sameFamily(req.sourceIp, req.target.ip) ? req.sourceIp : undefined;
    if (!sourceIp) return attempt(timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < EXPLICIT_PORT_ATTEMPTS; i++) {
      const r = await attempt(Math.max(1, deadline - Date.now()), sourceIp, this.ports.take());
      if (!r.ok && sourceNotLocal(r.error)) return attempt(Math.max(1, deadline - Date.now()));
      if (r.ok || !portTaken(r.error)) return r;
    }
    return attempt(Math.max(1, deadline - Date.now()), sourceIp, 0);
  }
}

/** One addon connect; errors worded as connectOnce's ("connect <target>: ..."), the errno in `cause`. */
async function connectFdOnce(
  req: DialRequest,
  timeoutMs: number,
  source?: { ip: string; port: number },
  transparent?: { mark: number },
): Promise<Result<UpstreamFd>> {
  const r = await nativeDial({
    target: req.target,
    timeoutMs,
    ...(source ? { source } : {}),
    ...(transparent ? { transparent } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (r.ok) return r;
  const e = r.error as Error & { code?: string };
  return err(new Error(`connect ${formatAddress(req.target)}: ${e.message}`, e.code ? { cause: e } : {}));
}

/** bind(2) refused the source address itself: it is not an address of this host. */
function sourceNotLocal(e: Error): boolean {
  const c = e.cause as (NodeJS.ErrnoException & { message?: string }) | undefined;
  return c?.code === "EADDRNOTAVAIL" && (c.syscall === "bind" || (c.message ?? "").startsWith("bind "));
}

function portTaken(e: Error): boolean {
  const code = (e.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === "EADDRINUSE" || code === "EADDRNOTAVAIL";
}

function connectOnce(req: DialRequest, timeoutMs: number, localAddress?: string, localPort?: number): Promise<Result<net.Socket>> {
  const signal = req.signal;
  if (signal?.aborted) return Promise.resolve(err(new Error(`connect ${formatAddress(req.target)}: aborted`)));
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err(new Error(`connect ${formatAddress(req.target)}: aborted`)));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const socket = net.connect({
      host: req.target.ip,
      port: req.target.port,
      allowHalfOpen: true,
      noDelay: true,
      ...(localAddress ? { localAddress, ...(localPort ? { localPort } : {}) } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(err(new Error(`connect ${formatAddress(req.target)}: timed out after ${timeoutMs} ms`)));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      resolve(ok(socket));
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(err(new Error(`connect ${formatAddress(req.target)}: ${e.message}`, { cause: e })));
    });
  });
}

/**
 * The source address of a transparent upstream connection, pure. The original client's IP is
 * kept (`spoof`) when it is of the destination's family (a dual-stack pod calling over IPv6 is
 * seen by its IPv6 address) and is not the destination itself; otherwise the wildcard of the
 * destination's family, so the kernel picks a node address.
 *
 * Hairpin (the client is the destination: a pod whose Service picked itself): a SYN from the
 * pod's own IP to that IP would reach the pod as a packet from itself (IPv4 drops it as a
 * martian source; IPv6 takes it, but the pod answers its own address over `lo`, never back to
 * ztunnel), so the connect times out. Upstream ztunnel's `freebind_connect` does the same:
 * "dest and source are the same, connect directly" (docs/ztunnel.md "Hairpin").
 */
export function transparentSource(sourceIp: string | undefined, target: string, spoof: boolean): string {
  if (!spoof || !sourceIp || !sameFamily(sourceIp, target)) return wildcardFor(target);
  return canonicalIp(sourceIp) === canonicalIp(target) ? wildcardFor(target) : sourceIp;
}

/**
 * Capture mode: transparent, marked sockets (native addon). With `spoofSource`, the upstream
 * connection leaves from the original client's IP (see `transparentSource`), so the workload
 * sees who called it; the replies come back through the node, where the redirection hands them
 * to this socket.
 */
export class TransparentDialer implements Dialer {
  constructor(private readonly opts: { mark: number; timeoutMs: number; spoofSource: boolean }) {}

  async dial(req: DialRequest): Promise<Result<net.Socket>> {
    const r = await connectTransparent({
      source: { ip: transparentSource(req.sourceIp, req.target.ip, this.opts.spoofSource) },
      destination: req.target,
      mark: this.opts.mark,
      timeoutMs: req.timeoutMs ?? this.opts.timeoutMs,
      allowHalfOpen: true,
    });
    if (!r.ok) return err(new Error(`connect ${formatAddress(req.target)}: ${r.error.message}`, { cause: r.error }));
    r.value.setNoDelay(true);
    return ok(r.value);
  }

  /** The same transparent, marked connection, dialled by the addon without the thread pool or a Node socket. */
  dialFd(req: DialRequest): Promise<Result<UpstreamFd>> {
    return connectFdOnce(
      req,
      req.timeoutMs ?? this.opts.timeoutMs,
      { ip: transparentSource(req.sourceIp, req.target.ip, this.opts.spoofSource), port: 0 },
      { mark: this.opts.mark },
    );
  }
}
