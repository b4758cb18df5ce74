/**
 * Joins an HBONE stream and a TCP-like Duplex into one bidirectional byte pipe:
 * - backpressure: `pipe` pauses a reader while the other side's writable buffer is full; the
 *   HTTP/2 layer then stops returning WINDOW_UPDATEs, so the remote sender stalls too;
 * - half-close: END_STREAM ends the socket's writable side (FIN) and FIN ends the stream
 *   (END_STREAM), each direction independently;
 * - failure: an error or abort on either side tears both down: the HTTP/2 stream is reset
 *   (RST_STREAM, so the far end sees a reset, not a truncated-but-clean stream) and the socket
 *   is destroyed.
 * Resolves once both sides are closed; never rejects. No per-chunk work on the hot path.
 */
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Http2Stream } from "node:http2";
import { constants as h2 } from "node:http2";

export interface SpliceOutcome {
  /** The first error seen on either side (a reset, a timeout), if any. */
  readonly error?: Error;
}

/**
 * Tears a Duplex down after the other side failed. Deliberately `destroy()`, not
 * `resetAndDestroy()`: on Node 20 resetting a socket that a pipe is still writing to was seen to
 * leave the event loop spinning at full CPU after the tunnel closed (reproduced in
 * test/hbone/tunnel.test.ts under the test runner). The kernel still answers RST when unread
 * data is pending, which is the case that matters for a reset tunnel.
 */
export function resetDuplex(d: Duplex): void {
  if (!d.destroyed) d.destroy();
}

function cleanlyDone(d: Duplex): boolean {
  return d.readableEnded && d.writableFinished;
}

export function spliceStream(stream: Http2Stream, upstream: Duplex): Promise<SpliceOutcome> {
  // A TCP upstream must keep its writable side open after the peer's FIN (half-close).
  if (upstream instanceof Socket) upstream.allowHalfOpen = true;
  return new Promise((resolve) => {
    let error: Error | undefined;
    let closed = 0;
    const failStream = () => {
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    };
    const onUpstreamError = (e: Error) => {
      error ??= e;
      failStream();
    };
    const onStreamError = (e: Error) => {
      error ??= e;
      resetDuplex(upstream);
    };
    const done = () => {
      if (++closed === 2) {
        stream.off("error", onStreamError);
        upstream.off("error", onUpstreamError);
        // Late errors after both closed are irrelevant but must not be unhandled.
        stream.on("error", () => {});
        upstream.on("error", () => {});
        resolve(error ? { error } : {});
      }
    };
    stream.on("error", onStreamError);
    upstream.on("error", onUpstreamError);
    stream.once("close", () => {
      // RST_STREAM from the peer, session loss, or our own reset: the socket must not linger.
      if (!cleanlyDone(stream) || stream.rstCode !== h2.NGHTTP2_NO_ERROR) {
        error ??= new Error(`hbone: stream closed before both directions ended (rst code ${stream.rstCode ?? "none"})`);
        resetDuplex(upstream);
      }
      done();
    });
    upstream.once("close", () => {
      if (!cleanlyDone(upstream)) {
        error ??= new Error("hbone: upstream closed before both directions ended");
        failStream();
      }
      done();
    });
    stream.pipe(upstream);
    upstream.pipe(stream);
  });
}
