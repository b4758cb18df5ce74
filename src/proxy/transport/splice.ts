/**
 * Copies bytes both ways between two duplex streams (a client socket and an upstream socket for
 * passthrough and captured plaintext), the way a TCP proxy must: backpressure, half-close, and
 * a failure or unclean close of either side tears both down. The mechanics are the HBONE
 * splice's (`spliceDuplexes`, no `pipe()`, no per-connection closures); see there.
 * Resolves once both sides are closed. Sockets passed here must allow half-open connections.
 */
import type { Duplex } from "node:stream";
import { spliceDuplexes } from "../hbone/splice.js";

export interface SpliceResult {
  /** The first error seen on either side, if any (a reset, a timeout). */
  readonly error?: Error;
}

export function splice(a: Duplex, b: Duplex): Promise<SpliceResult> {
  return spliceDuplexes(a, b);
}
