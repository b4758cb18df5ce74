/**
 * Which engine carries inbound HBONE (docs/hbone.md "Native engine"): `node` (Node's TLSSocket
 * and http2, server.ts) or `native` (the addon's OpenSSL + nghttp2 data path, native-server.ts),
 * and the same for the outbound pool's connections (client.ts through node-connection.ts, or
 * native-client.ts). Both take the same options and make the same decisions; only the tunnel
 * object differs (`OutboundTunnel`). Each component has its own default: the ztunnel's is
 * `native` (its connection rate, throughput and memory targets hold there), the waypoint's `node`
 * (its HTTP stack reads Node sockets, and the socket pair a native tunnel needs costs it more
 * CPU than the engine saves: docs/waypoint.md "Native engine").
 */
import type { HboneServerOptions } from "./server.js";
import { HboneServer } from "./server.js";
import { NativeHboneServer } from "./native-server.js";
import type { ClientHttp2Stream } from "node:http2";
import type { Duplex } from "node:stream";
import { type Result, ok, err } from "../../common/result.js";
import { HbonePool, type PoolObserver } from "./pool.js";
import { NativeHboneClient, NativeTunnel } from "./native-client.js";
import { type HboneSettings, settingsOrThrow } from "./settings.js";
import type { ConnectionSecurity } from "./connection-security.js";
import { sessionSecurity } from "./connection-security.js";

export type HboneEngine = "node" | "native";
export const HBONE_ENGINES: readonly HboneEngine[] = ["node", "native"];
export const ZTUNNEL_DEFAULT_ENGINE: HboneEngine = "native";
export const WAYPOINT_DEFAULT_ENGINE: HboneEngine = "node";

/** What a component needs from an inbound HBONE server, whichever engine. */
export type HboneInboundServer = Pick<HboneServer, "listen" | "adopt" | "stats" | "dump" | "close">;

/** `v` (a flag or WEFT_HBONE_ENGINE) as an engine; unset or empty is the component's `fallback`. */
export function parseHboneEngine(v: string | undefined, field: string, fallback: HboneEngine): Result<HboneEngine> {
  if (v === undefined || v === "") return ok(fallback);
  if ((HBONE_ENGINES as readonly string[]).includes(v)) return ok(v as HboneEngine);
  return err(new Error(`${field}: ${JSON.stringify(v)} is not an HBONE engine (want ${HBONE_ENGINES.join(" or ")})`));
}

export function createHboneServer(opts: HboneServerOptions, engine: HboneEngine): HboneInboundServer {
  return engine === "native" ? new NativeHboneServer(opts) : new HboneServer(opts);
}

/** A tunnel from the pool: Node's HTTP/2 stream, or a native tunnel to splice a socket with. */
export type OutboundTunnel = ClientHttp2Stream | NativeTunnel;

/** The outbound HBONE pool on `engine`; the pool's decisions are the same on both. */
export function createHbonePool(
  settings: Partial<HboneSettings> | undefined,
  engine: HboneEngine,
  observer?: PoolObserver,
): HbonePool<OutboundTunnel> {
  if (engine === "node") return new HbonePool<ClientHttp2Stream>(settings, observer) as HbonePool<OutboundTunnel>;
  const client = new NativeHboneClient(settingsOrThrow(settings));
  return new HbonePool<NativeTunnel>(settings, observer, (opts) => client.dial(opts)) as unknown as HbonePool<OutboundTunnel>;
}

/**
 * A pooled tunnel as a Node Duplex, for users that speak a protocol over it (the waypoint's HTTP
 * clients): Node's HTTP/2 stream as it is, a native tunnel through a socket pair (a Node socket
 * on a native handle, so Node's HTTP parser reads it without a JavaScript stream in between).
 */
export function tunnelDuplex(t: OutboundTunnel): Duplex {
  return t instanceof NativeTunnel ? t.duplex() : t;
}

/** The TLS record of the connection a tunnel rides (for `connection_security_policy`). */
export function tunnelSecurity(t: OutboundTunnel): ConnectionSecurity | undefined {
  return t instanceof NativeTunnel ? t.security : sessionSecurity(t.session);
}
