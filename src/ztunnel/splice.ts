/**
 * Copies bytes both ways between two duplex streams (a client socket and an HBONE stream, or an
 * HBONE stream and an upstream socket), the way a TCP proxy must:
 * - backpressure: `pipe` pauses the reader while the writer's buffer is full;
 * - half-close: when one side ends (FIN / END_STREAM), the other side's writable end is ended,
 *   while the opposite direction keeps flowing;
 * - errors and resets: if either side fails or is destroyed, both are torn down with the same
 *   `resetDuplex` the HBONE splice uses (see there why it destroys rather than resets).
 * Resolves once both sides are closed. Sockets passed here must allow half-open connections.
 */
import type { Duplex } from "node:stream";
import { resetDuplex as abort } from "./hbone/splice.js";

export interface SpliceResult {
  /** The first error seen on either side, if any (a reset, a timeout). */
  readonly error?: Error;
}

export function splice(a: Duplex, b: Duplex): Promise<SpliceResult> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    let closed = 0;
    const fail = (e: Error) => {
      error ??= e;
      abort(a);
      abort(b);
    };
    const onClose = (self: Duplex, other: Duplex) => () => {
      // A side that closed without a clean end in both directions takes the other one down.
      if (!(self.readableEnded && self.writableFinished) && !other.destroyed) abort(other);
      if (++closed === 2) resolve(error ? { error } : {});
    };
    a.on("error", fail);
    b.on("error", fail);
    a.once("close", onClose(a, b));
    b.once("close", onClose(b, a));
    a.pipe(b);
    b.pipe(a);
  });
}

