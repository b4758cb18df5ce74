/**
 * The lean HTTP/1.1 downstream codec: serves HTTP/1.1 requests on a terminated tunnel stream
 * without Node's http.Server (IncomingMessage, ServerResponse, their streams and the parser
 * binding per connection), parsing with downstream-h1-parse.ts and presenting each exchange as
 * H1Request / H1Response (downstream-h1-message.ts).
 *
 * Handoff (the safety rule): the parser accepts a strict subset of what llhttp accepts; the
 * first head it does not accept, with everything after it, goes to Node's http.Server
 * (`handoff`: the bytes are put back on the stream and the stream is emitted as a connection),
 * which serves or rejects the rest of the connection as it always did (Upgrade, CONNECT,
 * Expect, malformed heads and their 400, ...). A handoff happens only between messages: the
 * codec serves one exchange at a time (a pipelined request is parsed once the previous
 * response and request body are complete), so nothing of an earlier request is in flight and
 * both parsers agree where every message ends.
 *
 * Invariants: responses go out in request order; the request body is pushed into the
 * request's Readable and the stream is paused while that Readable is full, and while more than
 * PIPELINE_LIMIT bytes of later requests wait; the response writes straight to the stream (its
 * return value is the backpressure). Node's server semantics kept: keep-alive timeout (idle
 * connection destroyed), a head not complete in time answered 408, a partial head at the
 * stream's end answered 400, the stream's end aborts a request in flight and ends the stream
 * (no half-open), an unread body is read and dropped once the response is done,
 * `connection: close` ends the stream after the response, a malformed chunked body ends the
 * exchange (400 if no response began, else the stream is destroyed).
 */
import type { Duplex } from "node:stream";
import { logger } from "../../common/log.js";
import { type BodyFraming, ChunkedDecoder, parseHead } from "./downstream-h1-parse.js";
import { type H1AnyRequest, H1BodilessRequest, H1Request, H1Response, type H1Wire } from "./downstream-h1-message.js";

const log = logger("waypoint.downstream");

/** Bytes of later (pipelined) requests held while one is served, before the stream is paused. */
export const PIPELINE_LIMIT = 64 * 1024;

/** What Node's server answers to a head it cannot parse (downstream.ts clientError), also here. */
export const BAD_REQUEST = Buffer.from("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
/** Node's answer to a head not complete within headersTimeout. */
const REQUEST_TIMEOUT = Buffer.from("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n");

const EMPTY = Buffer.alloc(0);

export interface H1Handlers {
  /** Serves one request (forward.ts handleRequest). */
  request(req: H1AnyRequest, res: H1Response): void;
  /** The stream is detached from this codec: serve it, starting with `rest`, on Node's server. */
  handoff(rest: Buffer, reason: string): void;
}

export interface H1Options {
  /** Node's keepAliveTimeout: an idle connection is destroyed after it. */
  readonly keepAliveTimeoutMs: number;
  /** Node's headersTimeout: a started head must be complete within it (408). */
  readonly headersTimeoutMs: number;
}

type Body = { kind: "length"; left: number } | { kind: "chunked"; decoder: ChunkedDecoder } | undefined;

export class H1Connection implements H1Wire {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private state: "head" | "exchange" | "gone" = "head";
  private req: H1AnyRequest | undefined;
  private res: H1Response | undefined;
  private body: Body;
  private responded = false;
  /** The request's Readable is full: wait for its _read. */
  private bodyFull = false;
  private paused = false;
  private idleSince = Date.now();
  private timer: NodeJS.Timeout;
  readonly keepAliveTimeoutS: number;

  constructor(
    private readonly stream: Duplex,
    private readonly handlers: H1Handlers,
    private readonly options: H1Options,
  ) {
    this.keepAliveTimeoutS = Math.floor(options.keepAliveTimeoutMs / 1000);
    stream.on("data", this.onData);
    stream.on("end", this.onEnd);
    stream.on("close", this.onClose);
    stream.on("drain", this.onDrain);
    this.timer = setTimeout(this.onTimer, Math.min(options.keepAliveTimeoutMs, options.headersTimeoutMs));
    this.timer.unref();
  }

  private readonly onData = (c: Buffer): void => {
    if (this.state === "gone") return;
    if (this.pos >= this.buf.length) {
      this.buf = c;
      this.pos = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), c]);
      this.pos = 0;
    }
    this.pump();
  };

  private pump(): void {
    for (;;) {
      if (this.state === "gone") return;
      if (this.state === "head") {
        if (this.pos >= this.buf.length) {
          this.buf = EMPTY;
          this.pos = 0;
          return this.flow();
        }
        const r = parseHead(this.buf, this.pos);
        if (r.kind === "more") return this.flow();
        if (r.kind === "handoff") return this.handoff(r.reason);
        this.pos += r.consumed;
        const req = r.head.body.kind === "none" ? new H1BodilessRequest(r.head) : new H1Request(r.head, this);
        this.start(r.head.body, req, new H1Response(this, r.head));
        continue;
      }
      if (this.body && !this.bodyFull) {
        if (!this.readBodyBytes()) return this.flow();
        continue;
      }
      return this.flow();
    }
  }

  private start(framing: BodyFraming, req: H1AnyRequest, res: H1Response): void {
    this.state = "exchange";
    this.req = req;
    this.res = res;
    this.responded = false;
    this.bodyFull = false;
    this.body =
      framing.kind === "length"
        ? { kind: "length", left: framing.length }
        : framing.kind === "chunked"
          ? { kind: "chunked", decoder: new ChunkedDecoder() }
          : undefined;
    res.once("finish", this.onResponseDone);
    this.handlers.request(req, res);
  }

  /** Moves body bytes from the buffer to the request; false: nothing more can be done now. */
  private readBodyBytes(): boolean {
    const body = this.body!;
    // A body is being read: the request is a Readable of it.
    const req = this.req as H1Request;
    if (this.pos >= this.buf.length) return false;
    if (body.kind === "length") {
      const end = Math.min(this.buf.length, this.pos + body.left);
      const chunk = this.buf.subarray(this.pos, end);
      body.left -= end - this.pos;
      this.pos = end;
      if (!this.responded && !req.push(chunk)) this.bodyFull = true;
      if (body.left === 0) this.bodyDone();
      return true;
    }
    const step = body.decoder.next(this.buf, this.pos);
    switch (step.kind) {
      case "data":
        this.pos = step.end;
        if (!this.responded && !req.push(this.buf.subarray(step.start, step.end))) this.bodyFull = true;
        return true;
      case "more":
        this.pos = step.next;
        return false;
      case "done":
        this.pos = step.next;
        this.bodyDone();
        return true;
      case "error":
        this.bodyError(step.reason);
        return false;
    }
  }

  private bodyDone(): void {
    this.body = undefined;
    this.bodyFull = false;
    const req = this.req as H1Request;
    if (!req.destroyed) req.finishBody();
    if (this.responded) this.next();
  }

  /** A malformed chunked body: as Node's parser error, 400 before any response, else the stream goes. */
  private bodyError(reason: string): void {
    log.debug({ reason }, "malformed HTTP/1.1 request body from client");
    const res = this.res!;
    this.req!.abort();
    this.body = undefined;
    if (!res.headersSent && !this.stream.destroyed) {
      this.state = "gone";
      this.stream.end(BAD_REQUEST);
      res.closeNow();
    } else this.stream.destroy();
  }

  private readonly onResponseDone = (): void => {
    const res = this.res!;
    this.responded = true;
    res.closeNow();
    if (res.last) {
      this.state = "gone";
      this.req?.abort();
      this.stream.end();
      return;
    }
    // An unread body is read and dropped (Node's _dump) before the next request's head.
    if (this.body) {
      this.bodyFull = false;
      this.pump();
      return;
    }
    this.next();
  };

  private next(): void {
    this.state = "head";
    this.req = undefined;
    this.res = undefined;
    this.idleSince = Date.now();
    this.pump();
  }

  /** Pauses the stream while the body's reader is full or too much of later requests waits. */
  private flow(): void {
    const hold = this.state !== "gone" && (this.bodyFull || (this.state === "exchange" && this.buf.length - this.pos > PIPELINE_LIMIT));
    if (hold === this.paused) return;
    this.paused = hold;
    if (hold) this.stream.pause();
    else this.stream.resume();
  }

  private handoff(reason: string): void {
    const rest = this.pos < this.buf.length ? this.buf.subarray(this.pos) : EMPTY;
    this.detach();
    log.debug({ reason }, "HTTP/1.1 connection handed to Node's server");
    this.handlers.handoff(rest, reason);
  }

  private detach(): void {
    this.state = "gone";
    this.buf = EMPTY;
    clearTimeout(this.timer);
    this.stream.off("data", this.onData);
    this.stream.off("end", this.onEnd);
    this.stream.off("close", this.onClose);
    this.stream.off("drain", this.onDrain);
  }

  private readonly onEnd = (): void => {
    if (this.state === "gone") return;
    const partial = this.state === "head" && this.pos < this.buf.length;
    this.state = "gone";
    this.req?.abort();
    if (!this.stream.writable) return;
    if (partial) this.stream.end(BAD_REQUEST);
    else this.stream.end();
  };

  private readonly onClose = (): void => {
    this.state = "gone";
    clearTimeout(this.timer);
    this.req?.abort();
    this.res?.closeNow();
  };

  private readonly onDrain = (): void => {
    this.res?.emit("drain");
  };

  private readonly onTimer = (): void => {
    if (this.state === "gone") return;
    const partial = this.pos < this.buf.length;
    const limit = partial ? this.options.headersTimeoutMs : this.options.keepAliveTimeoutMs;
    const idle = Date.now() - this.idleSince;
    if (this.state === "head" && idle >= limit) {
      this.state = "gone";
      if (partial) this.stream.end(REQUEST_TIMEOUT);
      else this.stream.destroy();
      return;
    }
    // Not idle long enough (or serving): look again when the current period could end.
    this.timer = setTimeout(this.onTimer, this.state === "head" ? limit - idle + 1 : limit);
    this.timer.unref();
  };

  // H1Wire, for the current exchange's request and response.

  write(b: Buffer, _last: boolean, done?: (e?: Error | null) => void): boolean {
    if (this.stream.destroyed || !this.stream.writable) return false;
    return this.stream.write(b, done);
  }

  readBody(): void {
    if (!this.bodyFull) return;
    this.bodyFull = false;
    this.pump();
  }

  destroy(): void {
    this.stream.destroy();
  }
}
