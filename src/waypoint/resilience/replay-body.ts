/**
 * The downstream request body, streamed to the current upstream attempt while a copy is kept so
 * that a retry can send it again (Envoy buffers the request for retries the same way). The copy
 * is bounded: past `limit` bytes it is dropped and the request is no longer replayable (Envoy
 * disables retries once the body exceeds its buffer limit). A prefix already read off the request
 * (an ext_authz body check) is part of the body: sent first, and kept for retries like the rest
 * (past the limit, the first attempt still gets it). Backpressure follows the attached
 * attempt; with none attached (during a back-off) the downstream is paused.
 */
import type { Writable } from "node:stream";

/** What is read of the downstream request: a Readable, or the HTTP/2 stream's wrapper (http/downstream-h2.ts). */
export interface BodySource {
  on(event: "data", f: (c: Buffer) => void): unknown;
  once(event: "end", f: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly readableEnded: boolean;
}

/** Envoy's default per-connection buffer limit, which bounds what a retry can replay. */
export const RETRY_BUFFER_LIMIT = 1 << 20;

/**
 * Ends `sink` unless it already is: an HTTP/2 client stream for a GET is ended by
 * `session.request()` itself, and a second end() builds an ERR_STREAM_ALREADY_FINISHED (with its
 * stack trace) that nobody reads, about 2% of the waypoint's CPU under load.
 */
function endOnce(sink: Writable | undefined): void {
  if (sink && !sink.writableEnded && !sink.destroyed) sink.end();
}

export class ReplayBody {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private overflow = false;
  private sink: Writable | undefined;

  constructor(
    private readonly req: BodySource,
    private readonly limit = RETRY_BUFFER_LIMIT,
    /** Bytes already read from `req` by an earlier filter (ext_authz's with_request_body): sent first. */
    prefix: readonly Buffer[] = [],
  ) {
    this.chunks = [...prefix];
    this.size = prefix.reduce((n, c) => n + c.length, 0);
    req.on("data", (c: Buffer) => this.onData(c));
    req.once("end", () => {
      this.ended = true;
      endOnce(this.sink);
    });
    this.ended = req.readableEnded;
  }

  /** Whether a retry could send the whole body again. */
  get replayable(): boolean {
    return !this.overflow && this.size <= this.limit;
  }

  /** Sends the body so far to `sink`, then the rest as it arrives. */
  attach(sink: Writable): void {
    this.sink = sink;
    sink.on("error", () => {});
    for (const c of this.chunks) sink.write(c);
    if (this.ended) endOnce(sink);
    else this.req.resume();
  }

  /** Stops feeding the current attempt (it is being discarded). */
  detach(): void {
    this.sink = undefined;
  }

  /** The response is committed: no retry will need the copy. */
  release(): void {
    this.overflow = true;
    this.chunks = [];
  }

  private onData(c: Buffer): void {
    const sink = this.sink;
    if (!this.overflow) {
      this.size += c.length;
      // Between attempts the chunk is kept whatever the size (the downstream is paused at once),
      // so the next attempt gets the whole body; the copy is dropped only while one is attached.
      if (this.size > this.limit && sink) this.release();
      else this.chunks.push(c);
    }
    if (!sink) {
      this.req.pause();
      return;
    }
    if (!sink.write(c)) {
      this.req.pause();
      sink.once("drain", () => {
        if (this.sink === sink) this.req.resume();
      });
    }
  }
}
