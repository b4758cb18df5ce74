/**
 * A TCP listener whose connections are accepted in weft's addon (native/tcp_accept.c), for the
 * native HBONE engine's outbound side (docs/hbone.md "Client side", the accept): each accepted
 * connection reaches JavaScript as one call with its fd and its two addresses, and the tunnel
 * attaches the fd in the addon, so no Node `net.Socket` (nor its TCP handle, nor a dup) is made
 * per connection. The few paths that need a Node socket (passthrough to a non-mesh destination,
 * captured DNS over TCP) wrap the fd with `socketFromFd`; a refusal closes it with a reset
 * (`resetFd`), as `resetAndDestroy` does for a Node socket.
 *
 * Invariants: the fd handed to `onAccept` is the callee's (it must attach, wrap or reset it);
 * past the open-file limit the addon itself refuses new connections with a reset (it keeps a
 * spare descriptor for that, as libuv does for Node's servers) and never spins; `close()` stops
 * accepting at once and is idempotent.
 */
import net from "node:net";
import { type Result, ok, err } from "../../common/result.js";
import { type SocketAddress, canonicalIp, formatAddress } from "../../common/net/addr.js";
import { NativeError, addonExports, listenTransparentFd } from "../../common/native/native.js";

type AcceptorHandle = { readonly __nativeTcpAcceptor: unique symbol };

/** The listener's counters, from the addon. */
export interface NativeListenerStats {
  /** Connections accepted and handed to JavaScript. */
  readonly accepted: number;
  /** Connections refused with a reset because the process was at its open-file limit. */
  readonly refusedAtFdLimit: number;
  /** Accept errors other than the limit (aborted before accept, ENOBUFS, ...). */
  readonly errors: number;
  /** Times accepting paused for a moment (no spare descriptor, transient errors). */
  readonly pauses: number;
  readonly listening: boolean;
}

interface AcceptAddon {
  tcpListen(ip: string, port: number, backlog: number): number;
  tcpAcceptor(
    fd: number,
    onAccept: (fd: number, localIp: string, localPort: number, remoteIp: string, remotePort: number) => void,
  ): AcceptorHandle;
  tcpAcceptorClose(h: AcceptorHandle): void;
  tcpAcceptorStats(h: AcceptorHandle): NativeListenerStats;
  tcpAcceptorAddress(h: AcceptorHandle): SocketAddress | null;
  closeFdReset(fd: number): void;
}

/** Called once per accepted connection; `local` is the original destination on a transparent listener. */
export type OnAccepted = (fd: number, local: SocketAddress, remote: SocketAddress) => void;

export interface NativeListenOptions {
  readonly host: string;
  readonly port: number;
  readonly backlog?: number;
  /** IP_TRANSPARENT (set before bind) with this SO_MARK: a capture listener. */
  readonly transparent?: { readonly mark: number };
}

let cached: Result<AcceptAddon, NativeError> | undefined;

/** The addon's accept functions, if it is built with them. */
export function nativeAccept(): Result<AcceptAddon, NativeError> {
  if (!cached) {
    const a = addonExports();
    if (!a.ok) cached = a;
    else if (typeof (a.value as Partial<AcceptAddon>).tcpAcceptor !== "function")
      cached = err(new NativeError("native addon: built without the native accept: run scripts/setup.sh", "ENOADDON"));
    else cached = ok(a.value as AcceptAddon);
  }
  return cached;
}

function errorOf(what: string, e: unknown): NativeError {
  const code = typeof (e as { code?: unknown })?.code === "string" ? (e as { code: string }).code : "EUNKNOWN";
  return new NativeError(`${what}: ${e instanceof Error ? e.message : String(e)}`, code, { cause: e });
}

export class NativeListener {
  private constructor(
    private readonly addon: AcceptAddon,
    private readonly handle: AcceptorHandle,
    /** The bound address (the port chosen when 0 was asked). */
    readonly address: SocketAddress,
  ) {}

  /** Binds, listens and starts accepting; `onAccept` is called once per connection. */
  static listen(opts: NativeListenOptions, onAccept: OnAccepted): Result<NativeListener, NativeError> {
    const a = nativeAccept();
    if (!a.ok) return a;
    const addon = a.value;
    const what = `listen ${formatAddress({ ip: opts.host, port: opts.port })}`;
    let fd: number;
    if (opts.transparent) {
      const r = listenTransparentFd({ host: opts.host, port: opts.port, backlog: opts.backlog ?? 511, mark: opts.transparent.mark });
      if (!r.ok) return r;
      fd = r.value;
    } else {
      try {
        fd = addon.tcpListen(opts.host, opts.port, opts.backlog ?? 511);
      } catch (e) {
        return err(errorOf(what, e));
      }
    }
    let handle: AcceptorHandle;
    try {
      // The addon owns fd from here, also when this throws.
      handle = addon.tcpAcceptor(fd, (cfd, lip, lport, rip, rport) =>
        onAccept(cfd, { ip: canonicalIp(lip) ?? lip, port: lport }, { ip: canonicalIp(rip) ?? rip, port: rport }),
      );
    } catch (e) {
      return err(errorOf(what, e));
    }
    const bound = addon.tcpAcceptorAddress(handle) ?? { ip: opts.host, port: opts.port };
    return ok(new NativeListener(addon, handle, { ip: canonicalIp(bound.ip) ?? bound.ip, port: bound.port }));
  }

  stats(): NativeListenerStats {
    return this.addon.tcpAcceptorStats(this.handle);
  }

  /** Stops accepting and closes the listening socket; accepted connections are not touched. */
  close(): void {
    this.addon.tcpAcceptorClose(this.handle);
  }
}

/** A natively accepted connection as a Node socket, for the rare paths that need one. */
export function socketFromFd(fd: number): net.Socket {
  return new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
}

/** Refuses a natively accepted connection: closed with SO_LINGER 0, so the client reads a reset. */
export function resetFd(fd: number): void {
  const a = nativeAccept();
  if (a.ok) a.value.closeFdReset(fd);
}
