/**
 * Typed access to the native HBONE engine's part of weft's addon (native/hbone_server.c), and
 * the secure contexts it serves with (one OpenSSL SSL_CTX per WorkloadCertificate object, built
 * from its PEMs; a rotated certificate is a new object, so new connections use it and open
 * ones keep theirs).
 */
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { type Result, ok, err } from "../../common/result.js";
import { NativeError, addonExports } from "../../common/native/native.js";
import { logger } from "../../common/log.js";
import { processTlsKeylogFile } from "./native-keylog.js";

const log = logger("proxy.hbone.native");

/** Opaque handles owned by the addon. */
export type NativeServerHandle = { readonly __nativeHboneServer: unique symbol };
export type NativeContextHandle = { readonly __nativeHboneContext: unique symbol };

export interface NativeServerOptions {
  readonly streamWindow: number;
  readonly connectionWindow: number;
  readonly maxFrame: number;
  readonly maxStreams: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
}

export interface NativeHboneAddon {
  hboneContext(chainPem: string, keyPem: string, rootsPem: string): NativeContextHandle;
  /** Appends the key log lines of every handshake made from `ctx` to `path` (Node's `--tls-keylog`; native-keylog.ts). */
  hboneContextKeylog?(ctx: NativeContextHandle, path: string): void;
  hboneServer(
    options: NativeServerOptions,
    onConnection: (
      conn: number,
      localIp: string,
      localPort: number,
      remoteIp: string,
      remotePort: number,
    ) => NativeContextHandle | true | undefined,
    onSecure: (conn: number, alpn: string, chain: Buffer[]) => boolean,
    onStream: (conn: number, stream: number, method: string, authority: string, headers: string[]) => void,
    onStreamEnd: (conn: number, stream: number, bytesIn: number, bytesOut: number, code: number, answered: boolean) => void,
    onConnectionEnd: (conn: number, reason: string) => void,
  ): NativeServerHandle;
  hboneListen(server: NativeServerHandle, ip: string, port: number, backlog: number): { id: number; port: number };
  hboneUnlisten(server: NativeServerHandle, id: number): void;
  hboneAdopt(server: NativeServerHandle, fd: number): void;
  hboneDupFd(fd: number): number;
  /** The answer to a connection onConnection deferred (returned true): a context starts TLS, null closes it with `reason`. */
  hboneStartTls(server: NativeServerHandle, conn: number, ctx: NativeContextHandle | null, reason: string): boolean;
  hboneAnswer(server: NativeServerHandle, conn: number, stream: number, status: number, fd: number, initial: Buffer | null): boolean;
  hboneReset(server: NativeServerHandle, conn: number, stream: number, code: number): void;
  /** An AF_UNIX stream socket pair (non-blocking, CLOEXEC): one end for the addon, one for a Node socket. */
  hboneSocketPair(): [number, number];
  hboneGoaway(server: NativeServerHandle, conn: number, code: number, graceful: boolean): void;
  hboneStreamBytes(server: NativeServerHandle, conn: number, stream: number): [number, number] | null;
  hboneClose(server: NativeServerHandle, force: boolean): void;
}

let cached: Result<NativeHboneAddon, NativeError> | undefined;

/** The addon, if it is built with the HBONE engine (scripts/setup.sh builds it). */
export function nativeHbone(): Result<NativeHboneAddon, NativeError> {
  if (!cached) {
    const a = addonExports();
    if (!a.ok) cached = a;
    else if (typeof (a.value as Partial<NativeHboneAddon>).hboneServer !== "function") {
      cached = err(new NativeError("native addon: built without the HBONE engine: run scripts/setup.sh", "ENOADDON"));
    } else cached = ok(a.value as NativeHboneAddon);
  }
  return cached;
}

const contexts = new WeakMap<WorkloadCertificate, NativeContextHandle>();

/** The native secure context presenting `cert` and trusting its roots (TLS 1.3 only, no tickets). */
export function nativeContextFor(addon: NativeHboneAddon, cert: WorkloadCertificate): Result<NativeContextHandle, NativeError> {
  let ctx = contexts.get(cert);
  if (!ctx) {
    try {
      ctx = addon.hboneContext(cert.chainPem.join("\n"), cert.keyPem, cert.rootsPem.join("\n"));
    } catch (e) {
      return err(
        new NativeError(`hbone native context for ${cert.chainPem.length} certificate(s): ${(e as Error).message}`, "ETLS", { cause: e }),
      );
    }
    contexts.set(cert, ctx);
    keylogTo(addon, ctx);
  }
  return ok(ctx);
}

let keylogFailed = false;

/** Node's `--tls-keylog` for the native contexts too; a file that cannot be written is logged once, TLS goes on. */
function keylogTo(addon: NativeHboneAddon, ctx: NativeContextHandle): void {
  const file = processTlsKeylogFile();
  if (!file || keylogFailed) return;
  try {
    addon.hboneContextKeylog?.(ctx, file);
  } catch (e) {
    keylogFailed = true;
    log.warn({ file, err: (e as Error).message }, "tls key log: cannot append to the file; the native engine writes none");
  }
}
