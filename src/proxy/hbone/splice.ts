/**
 * Joins two byte streams (an HBONE stream and a TCP socket, or two sockets) into one
 * bidirectional pipe, the way a TCP proxy must:
 * - backpressure: a reader is paused while the other side's writable buffer is full and resumed
 *   on its 'drain'; for an HTTP/2 stream the paused reader stops returning WINDOW_UPDATEs, so the
 *   remote sender stalls too;
 * - half-close: END_STREAM ends the socket's writable side (FIN) and FIN ends the stream
 *   (END_STREAM), each direction independently;
 * - failure: an error, a reset or an unclean close on either side tears both down: an HTTP/2
 *   stream is reset (RST_STREAM CANCEL, so the far end sees a reset, not a truncated-but-clean
 *   stream) and a socket is destroyed.
 * Resolves once both sides are closed; never rejects.
 *
 * Deliberately not `stream.pipe()`: a pipe pair costs ~20 closures, `once` wrappers and grown
 * listener arrays per connection (measured ~3 KB of heap per tunnel, see docs/hbone.md
 * "Performance"). Here every listener is one module-level function that finds its peer and its
 * splice through two symbols, so a spliced connection costs one small state object. No
 * per-chunk work beyond the write itself.
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
 * Tears a Duplex down after the other side failed. A TCP socket is reset (`resetAndDestroy()`:
 * SO_LINGER 0, the kernel sends RST), so the application on it sees ECONNRESET and can tell a
 * truncated stream from a complete one, as upstream ztunnel resets the downstream socket when
 * its tunnel fails (test/ztunnel/resets.test.ts). Except while its FIN is still pending (ended,
 * not yet finished): libuv refuses to reset a stream with a shutdown in flight (EINVAL), and
 * Node then never closes the handle, leaking the descriptor and spinning the process at exit
 * (seen on Node 20 and 24); such a socket is destroyed, as is anything that is not a TCP socket
 * (an HTTP/2 stream, a pipe).
 */
export function resetDuplex(d: Duplex): void {
  if (d.destroyed) return;
  if (d instanceof Socket && !d.connecting && !(d.writableEnded && !d.writableFinished) && isTcpHandle(d)) d.resetAndDestroy();
  else d.destroy();
}

function isTcpHandle(s: Socket): boolean {
  // resetAndDestroy throws ERR_INVALID_HANDLE_TYPE for anything but a TCP handle.
  const h = (s as unknown as { _handle?: { constructor?: { name?: string } } })._handle;
  return h?.constructor?.name === "TCP";
}

/**
 * An 'error' listener that only keeps an error from throwing (it surfaces through 'close' to
 * whoever splices the socket). One module function for every socket: an arrow at the call site
 * would keep that call's whole scope alive for the connection's lifetime.
 */
export function ignoreError(): void {}

const kPeer = Symbol("weft.splice.peer");
const kSplice = Symbol("weft.splice.state");

interface Side extends Duplex {
  [kPeer]?: Side;
  [kSplice]?: SpliceState;
}

interface SpliceState {
  error: Error | undefined;
  /** An HBONE splice reports an unclean close as an error; a plain one only tears down. */
  readonly hbone: boolean;
  closed: number;
  resolve: (outcome: SpliceOutcome) => void;
}

// node:http2 exports no Http2Stream value to test against; these getters are its own.
function isH2(d: Duplex): d is Http2Stream & Side {
  return "rstCode" in d && "session" in d;
}

/**
 * An HTTP/2 stream is reset, a TCP socket too (`resetDuplex`). The stream is destroyed with an
 * error, which makes Node send RST_STREAM(INTERNAL_ERROR) and nothing before it:
 * `stream.close(code)` would first end the writable side, so the peer got END_STREAM (a clean
 * end, passed on to its application as a FIN) and only then the RST_STREAM.
 */
function teardown(d: Side): void {
  if (isH2(d)) {
    if (!d.destroyed) d.destroy(new Error("hbone: the other side of the tunnel failed"));
  } else resetDuplex(d);
}

function cleanlyDone(d: Duplex): boolean {
  if (!(d.readableEnded && d.writableFinished)) return false;
  // An HTTP/2 stream that ended both ways can still have been closed with a reset code.
  return !isH2(d) || d.rstCode === undefined || d.rstCode === h2.NGHTTP2_NO_ERROR;
}

function onData(this: Side, chunk: Buffer): void {
  const peer = this[kPeer];
  if (peer && !peer.destroyed && !peer.write(chunk)) this.pause();
}

// 'drain' on the writer resumes the reader that feeds it: its peer.
function onDrain(this: Side): void {
  const peer = this[kPeer];
  if (peer && !peer.destroyed) peer.resume();
}

function onEnd(this: Side): void {
  const peer = this[kPeer];
  if (!peer || peer.destroyed) return;
  // Node ends an HTTP/2 stream's readable side also when the stream is reset (RST_STREAM, or
  // its session gone): that is a truncation, to be passed on as one, not as a FIN.
  if (isH2(this) && this.rstCode !== undefined && this.rstCode !== h2.NGHTTP2_NO_ERROR) teardown(peer);
  else if (!peer.writableEnded) peer.end();
}

function onError(this: Side, e: Error): void {
  const s = this[kSplice];
  if (!s || s.closed === 2) return; // late errors after both closed are irrelevant
  s.error ??= e;
  const peer = this[kPeer];
  if (peer) teardown(peer);
}

function onClose(this: Side): void {
  const s = this[kSplice];
  const peer = this[kPeer];
  if (!s || !peer) return;
  if (!cleanlyDone(this)) {
    if (s.hbone) {
      s.error ??= isH2(this)
        ? new Error(`hbone: stream closed before both directions ended (rst code ${this.rstCode ?? "none"})`)
        : new Error("hbone: upstream closed before both directions ended");
    }
    teardown(peer);
  }
  if (++s.closed === 2) {
    this.removeListener("data", onData);
    peer.removeListener("data", onData);
    s.resolve(s.error ? { error: s.error } : {});
  }
}

/** Splices `a` and `b`; resolves when both are closed. Sockets must allow half-open. */
export function spliceDuplexes(a: Duplex, b: Duplex): Promise<SpliceOutcome> {
  // A TCP side must keep its writable side open after the peer's FIN (half-close).
  if (a instanceof Socket) a.allowHalfOpen = true;
  if (b instanceof Socket) b.allowHalfOpen = true;
  return new Promise((resolve) => {
    const state: SpliceState = { error: undefined, hbone: isH2(a) || isH2(b), closed: 0, resolve };
    const x = a as Side;
    const y = b as Side;
    x[kPeer] = y;
    y[kPeer] = x;
    x[kSplice] = state;
    y[kSplice] = state;
    for (const d of [x, y]) {
      d.on("error", onError);
      d.on("close", onClose);
      d.on("end", onEnd);
      d.on("drain", onDrain);
    }
    x.on("data", onData);
    y.on("data", onData);
    // A side whose FIN came before the splice (a SOCKS5 client that sent its request and FIN in
    // one go, a client that half-closed while its upstream was dialled) has emitted 'end'
    // already: a paused net.Socket with an empty buffer still emits it. Pass that FIN on now,
    // or the peer never sees it and the connection hangs (found by the fuzzer, test/fuzz).
    for (const d of [x, y]) if (d.readableEnded) onEnd.call(d);
  });
}

/** The HBONE stream and its plaintext side (client socket or upstream socket). */
export function spliceStream(stream: Http2Stream, upstream: Duplex): Promise<SpliceOutcome> {
  return spliceDuplexes(stream, upstream);
}
