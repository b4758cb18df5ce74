/**
 * Typed access to weft's N-API addon (native/weft_native.c): IP_TRANSPARENT and SO_MARK on
 * sockets, transparent listeners and transparent outgoing connections handed to Node as
 * net.Server / net.Socket, and bpf(2) calls on pinned maps.
 *
 * Invariants: nothing here throws for an expected failure (missing addon, EPERM, ECONNREFUSED):
 * every call returns a Result whose error is a NativeError with a stable `code` (errno name, or
 * ENOADDON when the addon is not built). An fd created by the addon is either handed to Node,
 * which then owns and closes it, or closed here on failure; none leaks.
 */
import { createRequire } from "node:module";
import * as net from "node:net";
import * as path from "node:path";
import { type Result, ok, err } from "../result.js";

/** The addon's raw exports (see weft_native.c for the C side). */
interface RawAddon {
  setTransparent(fd: number, on: boolean): void;
  setMark(fd: number, mark: number): void;
  getSockOpts(fd: number): { transparent: boolean; mark: number };
  listenTransparent(ip: string, port: number, backlog: number, mark: number): number;
  connectTransparent(srcIp: string, srcPort: number, dstIp: string, dstPort: number, mark: number, timeoutMs: number): Promise<number>;
  closeFd(fd: number): void;
  bpfObjGet(path: string): number;
  bpfMapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  bpfMapDelete(fd: number, key: Buffer): boolean;
  bpfMapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  bpfMapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
}

/** An error from the addon: `code` is the errno name (EPERM, ENOENT, ...) or ENOADDON. */
export class NativeError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "NativeError";
  }
}

/** Repository root, from dist/src/common/native/ (compiled) or src/common/native/. */
const repoRoot = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? "../../../.." : "../../..");

/** Where the addon is loaded from: WEFT_NATIVE_ADDON, else native/build/Release/weft_native.node. */
export const addonPath = process.env.WEFT_NATIVE_ADDON ?? path.join(repoRoot, "native", "build", "Release", "weft_native.node");

let cached: Result<RawAddon, NativeError> | undefined;

function addon(): Result<RawAddon, NativeError> {
  if (!cached) {
    try {
      cached = ok(createRequire(__filename)(addonPath) as RawAddon);
    } catch (e) {
      cached = err(new NativeError(`native addon: cannot load ${addonPath}: run scripts/setup.sh to build it`, "ENOADDON", { cause: e }));
    }
  }
  return cached;
}

/** The addon's exports, for modules that declare their own part of it (hbone/native-addon.ts). */
export function addonExports(): Result<unknown, NativeError> {
  return addon();
}

/** Whether the addon is built and loadable (tests use it to skip loudly). */
export function nativeAvailable(): Result<void, NativeError> {
  const a = addon();
  return a.ok ? ok(undefined) : a;
}

function wrap(what: string, e: unknown): NativeError {
  const code = typeof (e as { code?: unknown })?.code === "string" ? (e as { code: string }).code : "EUNKNOWN";
  const msg = e instanceof Error ? e.message : String(e);
  return new NativeError(`${what}: ${msg}`, code, { cause: e });
}

function call<T>(what: string, f: (a: RawAddon) => T): Result<T, NativeError> {
  const a = addon();
  if (!a.ok) return a;
  try {
    return ok(f(a.value));
  } catch (e) {
    return err(wrap(what, e));
  }
}

/** The OS fd behind a Node socket or server (undefined before it is bound/connected). */
export function fdOf(handleOwner: net.Socket | net.Server): number | undefined {
  const fd = (handleOwner as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

export function setTransparent(fd: number, on = true): Result<void, NativeError> {
  return call("set IP_TRANSPARENT", (a) => a.setTransparent(fd, on));
}

export function setMark(fd: number, mark: number): Result<void, NativeError> {
  return call("set SO_MARK", (a) => a.setMark(fd, mark >>> 0));
}

export function socketOptions(fd: number): Result<{ transparent: boolean; mark: number }, NativeError> {
  return call("read socket options", (a) => a.getSockOpts(fd));
}

export interface TransparentListenOptions {
  /**
   * IPv4 or IPv6 address to bind; "0.0.0.0" (or "::") to accept captured connections for any
   * destination of that family. An IPv6 listener is IPV6_V6ONLY: bind both for dual stack.
   */
  readonly host: string;
  readonly port: number;
  readonly backlog?: number;
  /** SO_MARK for the listener and every socket it accepts (0: none). */
  readonly mark?: number;
  /** Keep accepted sockets writable after the peer's FIN (a proxy propagating half-close). */
  readonly allowHalfOpen?: boolean;
}

/**
 * A listening net.Server whose socket has IP_TRANSPARENT (set before bind, in C) and SO_MARK:
 * it accepts connections addressed to foreign IPs, the accepted socket's local address being
 * the original destination. Node cannot set the option before its own bind, hence the addon
 * creates, binds and listens, and Node adopts the fd with listen({ fd }).
 */
export async function listenTransparent(
  opts: TransparentListenOptions,
  onConnection?: (s: net.Socket) => void,
): Promise<Result<net.Server, NativeError>> {
  const fd = listenTransparentFd(opts);
  if (!fd.ok) return fd;
  // noDelay: a proxy relays small writes (HTTP/2 HEADERS, then DATA) as they come; with Nagle the
  // second waits for the peer's delayed ACK (40 ms on Linux) at every request-response turn.
  const server = net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false, noDelay: true }, onConnection);
  return new Promise((resolve) => {
    const fail = (e: Error): void => {
      server.close();
      resolve(err(wrap(`adopt listener fd ${fd.value}`, e)));
    };
    server.once("error", fail);
    server.listen({ fd: fd.value }, () => {
      server.off("error", fail);
      resolve(ok(server));
    });
  });
}

/**
 * The listening fd of a transparent listener (as `listenTransparent`, but not handed to Node):
 * for the native accept (src/proxy/transport/native-listener.ts), which takes it over.
 */
export function listenTransparentFd(opts: Omit<TransparentListenOptions, "allowHalfOpen">): Result<number, NativeError> {
  return call(`listen transparent ${opts.host}:${opts.port}`, (a) =>
    a.listenTransparent(opts.host, opts.port, opts.backlog ?? 511, (opts.mark ?? 0) >>> 0),
  );
}

export interface TransparentConnectOptions {
  /** Source address to bind; may be foreign (the original client's IP). Port 0: ephemeral. Same family as `destination`. */
  readonly source: { readonly ip: string; readonly port?: number };
  readonly destination: { readonly ip: string; readonly port: number };
  /** SO_MARK of the socket (ztunnel's mark, so capture leaves its packets alone). */
  readonly mark?: number;
  readonly timeoutMs?: number;
  /** Keep the socket writable after the peer's FIN (a proxy propagating half-close). */
  readonly allowHalfOpen?: boolean;
}

/**
 * An established net.Socket from a possibly foreign source address (IP_TRANSPARENT + SO_MARK,
 * bind, connect: done in C off the event loop), e.g. ztunnel's upstream connection that keeps
 * the client's source IP.
 */
export async function connectTransparent(opts: TransparentConnectOptions): Promise<Result<net.Socket, NativeError>> {
  const a = addon();
  if (!a.ok) return a;
  const what = `connect transparent ${opts.source.ip}:${opts.source.port ?? 0} -> ${opts.destination.ip}:${opts.destination.port}`;
  let fd: number;
  try {
    fd = await a.value.connectTransparent(
      opts.source.ip,
      opts.source.port ?? 0,
      opts.destination.ip,
      opts.destination.port,
      (opts.mark ?? 0) >>> 0,
      opts.timeoutMs ?? 10_000,
    );
  } catch (e) {
    return err(wrap(what, e));
  }
  try {
    return ok(new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: opts.allowHalfOpen ?? false }));
  } catch (e) {
    a.value.closeFd(fd);
    return err(wrap(what, e));
  }
}

/** A pinned BPF map opened by path (BPF_OBJ_GET); fixed key and value sizes. */
export class PinnedMap {
  private constructor(
    private fd: number,
    readonly path: string,
    readonly keySize: number,
    readonly valueSize: number,
  ) {}

  static open(pinPath: string, keySize: number, valueSize: number): Result<PinnedMap, NativeError> {
    const fd = call(`open pinned map ${pinPath}`, (a) => a.bpfObjGet(pinPath));
    return fd.ok ? ok(new PinnedMap(fd.value, pinPath, keySize, valueSize)) : fd;
  }

  private check(what: string, buf: Buffer, size: number): NativeError | undefined {
    return buf.length === size
      ? undefined
      : new NativeError(`map ${this.path}: ${what} is ${buf.length} bytes, expected ${size}`, "EINVAL");
  }

  /** flags: 0 any, 1 BPF_NOEXIST, 2 BPF_EXIST. */
  update(key: Buffer, value: Buffer, flags = 0): Result<void, NativeError> {
    const bad = this.check("key", key, this.keySize) ?? this.check("value", value, this.valueSize);
    if (bad) return err(bad);
    return call(`map ${this.path}: update`, (a) => a.bpfMapUpdate(this.fd, key, value, flags));
  }

  /** true if the key was there. */
  delete(key: Buffer): Result<boolean, NativeError> {
    const bad = this.check("key", key, this.keySize);
    if (bad) return err(bad);
    return call(`map ${this.path}: delete`, (a) => a.bpfMapDelete(this.fd, key));
  }

  lookup(key: Buffer): Result<Buffer | undefined, NativeError> {
    const bad = this.check("key", key, this.keySize);
    if (bad) return err(bad);
    return call(`map ${this.path}: lookup`, (a) => a.bpfMapLookup(this.fd, key, this.valueSize) ?? undefined);
  }

  /** All keys (a snapshot: concurrent updates may add or drop some). */
  keys(): Result<Buffer[], NativeError> {
    const out: Buffer[] = [];
    let prev: Buffer | null = null;
    for (;;) {
      const k: Result<Buffer | null, NativeError> = call(`map ${this.path}: next key`, (a) => a.bpfMapNextKey(this.fd, prev, this.keySize));
      if (!k.ok) return k;
      if (!k.value) return ok(out);
      out.push(k.value);
      prev = k.value;
      if (out.length > 1_000_000) return err(new NativeError(`map ${this.path}: too many keys`, "E2BIG"));
    }
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    call("close map", (a) => a.closeFd(fd));
  }
}
