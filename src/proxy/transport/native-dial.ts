/**
 * Upstream connections dialled by the addon (native/upstream_dial.c) as descriptors, for the
 * native HBONE engine (docs/hbone.md "The upstream dial"): a non-blocking connect on Node's loop
 * with its timeout in C, optionally transparent and marked (capture mode) and bound to a source
 * address and port; no Node socket exists for the connection at any point. One attempt per call:
 * the source-port choice and its retry are dialer.ts's, as for Node sockets.
 *
 * Outcomes are Results whose error messages and causes match the Node dial's, so a failure
 * logs and maps to 503 the same way on both engines: "connect ECONNREFUSED 10.0.0.1:80" with
 * `cause.code`, "timed out after N ms", "aborted". An AbortSignal aborts the connect in flight
 * (the fd is closed in C; a reset HBONE stream leaves no upstream connection).
 */
import { type Result, ok, err } from "../../common/result.js";
import { NativeError, addonExports } from "../../common/native/native.js";
import type { SocketAddress } from "../../common/net/addr.js";
import { UpstreamFd } from "./upstream-fd.js";

type DialerHandle = { readonly __upstreamDialer: unique symbol };

export interface UpstreamDialStats {
  readonly started: number;
  readonly connected: number;
  readonly failed: number;
  readonly timedOut: number;
  readonly cancelled: number;
  readonly inFlight: number;
}

interface UpstreamDialAddon {
  upstreamDialer(onDone: (id: number, fd: number, code: string, syscall: string) => void): DialerHandle;
  upstreamDial(
    dialer: DialerHandle,
    dstIp: string,
    dstPort: number,
    srcIp: string,
    srcPort: number,
    mark: number,
    transparent: boolean,
    timeoutMs: number,
  ): number;
  upstreamDialCancel(dialer: DialerHandle, id: number): boolean;
  upstreamClose(fd: number): void;
  upstreamDialStats(dialer: DialerHandle): UpstreamDialStats;
}

export interface NativeDialOptions {
  readonly target: SocketAddress;
  /** Bind before connect (port 0 or absent: the kernel's choice). */
  readonly source?: { readonly ip: string; readonly port?: number };
  /** IP_TRANSPARENT (a foreign source address) and SO_MARK, for capture mode. */
  readonly transparent?: { readonly mark: number };
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

interface Pending {
  readonly resolve: (r: Result<UpstreamFd>) => void;
  readonly opts: NativeDialOptions;
  readonly onAbort: (() => void) | undefined;
}

class NativeUpstreamDialer {
  private readonly handle: DialerHandle;
  private readonly pending = new Map<number, Pending>();
  private readonly closeReset: (fd: number) => void;

  constructor(private readonly addon: UpstreamDialAddon) {
    this.handle = addon.upstreamDialer((id, fd, code, syscall) => this.done(id, fd, code, syscall));
    this.closeReset = (fd) => addon.upstreamClose(fd);
  }

  dial(opts: NativeDialOptions): Promise<Result<UpstreamFd>> {
    const { target, signal } = opts;
    if (signal?.aborted) return Promise.resolve(err(new Error("aborted")));
    let id: number;
    try {
      id = this.addon.upstreamDial(
        this.handle,
        target.ip,
        target.port,
        opts.source?.ip ?? "",
        opts.source?.port ?? 0,
        (opts.transparent?.mark ?? 0) >>> 0,
        opts.transparent !== undefined,
        Math.max(1, Math.ceil(opts.timeoutMs)),
      );
    } catch (e) {
      return Promise.resolve(err(failure(e, opts)));
    }
    return new Promise((resolve) => {
      const onAbort = signal ? () => this.abort(id) : undefined;
      if (signal && onAbort) signal.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, { resolve, opts, onAbort });
    });
  }

  stats(): UpstreamDialStats {
    return this.addon.upstreamDialStats(this.handle);
  }

  private abort(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.addon.upstreamDialCancel(this.handle, id);
    p.resolve(err(new Error("aborted")));
  }

  private done(id: number, fd: number, code: string, syscall: string): void {
    const p = this.pending.get(id);
    if (!p) {
      // Not ours any more (cannot happen: a cancelled dial calls nothing); never leak the fd.
      if (fd >= 0) this.addon.upstreamClose(fd);
      return;
    }
    this.pending.delete(id);
    if (p.onAbort) p.opts.signal?.removeEventListener("abort", p.onAbort);
    if (fd >= 0) return p.resolve(ok(new UpstreamFd(fd, this.closeReset)));
    if (syscall === "deadline") return p.resolve(err(new Error(`timed out after ${Math.ceil(p.opts.timeoutMs)} ms`)));
    p.resolve(err(errnoError(code, syscall, p.opts)));
  }
}

/**
 * Node's wording, so logs read alike: "connect ECONNREFUSED 10.0.0.1:80", with " - Local
 * (ip:port)" when an explicit source port was bound; "bind EADDRINUSE <source ip:port>".
 */
function errnoError(code: string, syscall: string, opts: NativeDialOptions): NativeError {
  const { target, source } = opts;
  if (syscall === "bind" && source) return new NativeError(`bind ${code} ${source.ip}:${source.port ?? 0}`, code);
  const local = source?.port ? ` - Local (${source.ip}:${source.port})` : "";
  return new NativeError(`${syscall} ${code} ${target.ip}:${target.port}${local}`, code);
}

function failure(e: unknown, opts: NativeDialOptions): NativeError {
  const x = e as { code?: unknown; syscall?: unknown; message?: unknown };
  const code = typeof x?.code === "string" ? x.code : "EIO";
  if (typeof x?.syscall === "string") return errnoError(code, x.syscall, opts);
  return new NativeError(typeof x?.message === "string" ? x.message : String(e), code, { cause: e });
}

let cached: Result<NativeUpstreamDialer, NativeError> | undefined;

function dialer(): Result<NativeUpstreamDialer, NativeError> {
  if (!cached) {
    const a = addonExports();
    if (!a.ok) cached = a;
    else if (typeof (a.value as Partial<UpstreamDialAddon>).upstreamDial !== "function")
      cached = err(new NativeError("native addon: built without the upstream dial: run scripts/setup.sh", "ENOADDON"));
    else cached = ok(new NativeUpstreamDialer(a.value as UpstreamDialAddon));
  }
  return cached;
}

/**
 * One connect attempt; the error (message without the "connect <target>:" prefix, which the
 * dialer adds) has `code` (errno name) when the kernel refused it.
 */
export function nativeDial(opts: NativeDialOptions): Promise<Result<UpstreamFd>> {
  const d = dialer();
  return d.ok ? d.value.dial(opts) : Promise.resolve(err(d.error));
}

/** The addon's dial counters (tests, the inbound path's upstream kind). */
export function nativeDialStats(): UpstreamDialStats | undefined {
  const d = dialer();
  return d.ok ? d.value.stats() : undefined;
}
