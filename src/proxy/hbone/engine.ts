/**
 * Which engine carries inbound HBONE (docs/hbone.md "Native engine"): `node` (Node's TLSSocket
 * and http2, server.ts; the default) or `native` (the addon's OpenSSL + nghttp2 data path,
 * native-server.ts). Both take the same options and handler and make the same decisions.
 */
import type { HboneServerOptions } from "./server.js";
import { HboneServer } from "./server.js";
import { NativeHboneServer } from "./native-server.js";
import { type Result, ok, err } from "../../common/result.js";

export type HboneEngine = "node" | "native";
export const HBONE_ENGINES: readonly HboneEngine[] = ["node", "native"];

/** What a component needs from an inbound HBONE server, whichever engine. */
export type HboneInboundServer = Pick<HboneServer, "listen" | "adopt" | "stats" | "dump" | "close">;

export function parseHboneEngine(v: string | undefined, field: string): Result<HboneEngine> {
  if (v === undefined || v === "") return ok("node");
  if ((HBONE_ENGINES as readonly string[]).includes(v)) return ok(v as HboneEngine);
  return err(new Error(`${field}: ${JSON.stringify(v)} is not an HBONE engine (want ${HBONE_ENGINES.join(" or ")})`));
}

export function createHboneServer(opts: HboneServerOptions, engine: HboneEngine = "node"): HboneInboundServer {
  return engine === "native" ? new NativeHboneServer(opts) : new HboneServer(opts);
}
