/**
 * One HTTP/1.1 request and its response on the lean codec (downstream-h1.ts), in the shape the
 * request path (forward.ts, upstream-request.ts) shares with Node's IncomingMessage /
 * ServerResponse and with downstream-h2.ts: the subset it uses.
 *
 * H1Request is a Readable of the body (pause/resume/backpressure as IncomingMessage's). A
 * bodiless request (most) is an H1BodilessRequest instead: the same head facts and the subset of
 * a Readable the request path uses (data/end/close listeners, pause, resume, readableEnded, as
 * downstream-h2.ts's H2Request), ending on the next tick, without a stream's state (a Readable
 * ended at once cost ~6 ticks and its listeners per request: ~3% of the waypoint's CPU). H1Response writes what Node's ServerResponse writes for the
 * same calls, byte for byte (the table test compares them): the head is built at writeHead()
 * (or at end() without one: then Content-Length is the body's) and sent with the first body
 * bytes; headers in the caller's order, then `Date`, `Connection: keep-alive` and
 * `Keep-Alive: timeout=60` (or `Connection: close`), then Content-Length or
 * `Transfer-Encoding: chunked` when the caller gave no framing; no body for HEAD, 1xx, 204 and
 * 304; trailers only on a chunked response; a header name outside the token set or a value with
 * CR, LF or another control byte throws as Node's (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR).
 * "close" is emitted once: after the last byte was handed to the socket, or when the
 * connection went away first (then writableFinished is false: the request path logs DC).
 */
import { EventEmitter } from "node:events";
import { STATUS_CODES, type OutgoingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import { type RequestHead, TOKEN } from "./downstream-h1-parse.js";

/** What a message needs of its connection (downstream-h1.ts H1Connection). */
export interface H1Wire {
  /** Writes bytes of the current response; false: wait for "drain". */
  write(b: Buffer, last: boolean, done?: (e?: Error | null) => void): boolean;
  /** The request body consumer wants more. */
  readBody(): void;
  /** The response asked for the connection to go (destroy). */
  destroy(): void;
  readonly keepAliveTimeoutS: number;
}

/** A request with a body (content-length or chunked); a bodiless one is an H1BodilessRequest. */
export class H1Request extends Readable {
  readonly method: string;
  readonly url: string;
  readonly httpVersion = "1.1";
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly headers: Record<string, string>;
  readonly rawHeaders: string[];
  /** The body ended on the wire (its last byte pushed). */
  complete = false;

  constructor(
    head: RequestHead,
    private readonly wire: H1Wire,
  ) {
    super();
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
  }

  override _read(): void {
    this.wire.readBody();
  }

  /** The body's last byte arrived. */
  finishBody(): void {
    this.complete = true;
    this.push(null);
  }

  /** The connection went away before the body's end: IncomingMessage's "aborted", then an error. */
  abort(): void {
    if (this.complete || this.destroyed) return;
    this.emit("aborted");
    const e = Object.assign(new Error("aborted"), { code: "ECONNRESET" });
    // No "error" listener is required of the request path: as IncomingMessage, an abort is not thrown.
    if (this.listenerCount("error") === 0) this.on("error", () => {});
    this.destroy(e);
  }
}

type Listener = (...args: never[]) => void;

/**
 * A request without a body (no content-length, no transfer-encoding): what the request path
 * reads of H1Request (the subset downstream-h2.ts's H2Request has too), without a Readable or
 * an EventEmitter. "end" and then "close" come on the next tick, as an ended Readable's do once
 * read; "data" never. abort() has nothing to abort (the request is complete), as H1Request's.
 */
export class H1BodilessRequest {
  readonly httpVersion = "1.1";
  readonly complete = true;
  readonly destroyed = false;
  private ended = false;
  /** "end" and "close" listeners in order, each with its event; emptied when they ran. */
  private listeners: { event: "end" | "close"; f: Listener }[] = [];

  constructor(private readonly head: RequestHead) {
    process.nextTick(endBodiless, this);
  }

  get method(): string {
    return this.head.method;
  }

  get url(): string {
    return this.head.url;
  }

  get headers(): Record<string, string> {
    return this.head.headers;
  }

  get readableEnded(): boolean {
    return this.ended;
  }

  on(event: "data" | "end" | "close", f: Listener): this {
    // No "data" ever; "end" and "close" happen once, so on() and once() are alike.
    if (event !== "data" && !this.ended) this.listeners.push({ event, f });
    return this;
  }

  once(event: "data" | "end" | "close", f: Listener): this {
    return this.on(event, f);
  }

  off(event: "data" | "end" | "close", f: Listener): this {
    const i = this.listeners.findIndex((l) => l.event === event && l.f === f);
    if (i >= 0) this.listeners.splice(i, 1);
    return this;
  }

  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }

  abort(): void {}

  /** @internal The next tick after construction: "end", then "close". */
  finish(): void {
    this.ended = true;
    const all = this.listeners;
    this.listeners = [];
    for (const l of all) if (l.event === "end") (l.f as () => void)();
    for (const l of all) if (l.event === "close") (l.f as () => void)();
  }
}

function endBodiless(r: H1BodilessRequest): void {
  r.finish();
}

/** A request on the lean codec: with a body, a Readable of it; without, the lighter form. */
export type H1AnyRequest = H1Request | H1BodilessRequest;

const DATE_CACHE = { second: -1, text: "" };

/** Node's Date header value, computed at most once a second. */
function utcDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== DATE_CACHE.second) {
    DATE_CACHE.second = s;
    DATE_CACHE.text = new Date(now).toUTCString();
  }
  return DATE_CACHE.text;
}

function codedError(code: string, message: string): TypeError {
  return Object.assign(new TypeError(message), { code });
}

/** Node's checkIsHttpToken: one or more tchar. */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) if (!TOKEN[name.charCodeAt(i)]) return false;
  return true;
}

/** Node's checkInvalidHeaderChar: HTAB, SP to "~", and obs-text. */
function validValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x09 || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff)) continue;
    return false;
  }
  return true;
}

interface HeaderLines {
  readonly text: string;
  readonly framing: "length" | "chunked" | "other" | undefined;
  readonly date: boolean;
  readonly connection: boolean;
  readonly connectionClose: boolean;
}

function headerLines(headers: OutgoingHttpHeaders, what: string): HeaderLines {
  let text = "";
  let framing: HeaderLines["framing"];
  let date = false;
  let connection = false;
  let connectionClose = false;
  for (const name in headers) {
    const v = headers[name];
    // Node's ServerResponse throws ERR_HTTP_INVALID_HEADER_VALUE here; an absent header is skipped instead.
    if (v === undefined) continue;
    if (!validName(name)) throw codedError("ERR_INVALID_HTTP_TOKEN", `${what} name must be a valid HTTP token ["${name}"]`);
    const values = Array.isArray(v) ? v : [v];
    for (const x of values) {
      const s = String(x);
      if (!validValue(s)) throw codedError("ERR_INVALID_CHAR", `Invalid character in header content ["${name}"]`);
      text += `${name}: ${s}\r\n`;
    }
    const k = name.length === 4 || name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : "";
    if (k === "date") date = true;
    else if (k === "connection") {
      connection = true;
      connectionClose ||= /close/i.test(values.join(","));
    } else if (k === "content-length") framing = "length";
    else if (k === "transfer-encoding") framing = /chunked/i.test(values.join(",")) ? "chunked" : "other";
  }
  return { text, framing, date, connection, connectionClose };
}

export class H1Response extends EventEmitter {
  statusCode = 200;
  private head: Buffer | undefined;
  private sent = false;
  private ending = false;
  private finished = false;
  private isClosed = false;
  private chunked = false;
  private hasBody: boolean;
  private trailers: OutgoingHttpHeaders | undefined;
  /** The connection is to close after this response (request's `connection: close`, or no framing). */
  last: boolean;

  constructor(
    private readonly wire: H1Wire,
    head: RequestHead,
  ) {
    super();
    this.hasBody = head.method !== "HEAD";
    this.last = !head.keepAlive;
  }

  get headersSent(): boolean {
    return this.sent;
  }

  get writableEnded(): boolean {
    return this.ending;
  }

  get writableFinished(): boolean {
    return this.finished;
  }

  get destroyed(): boolean {
    return this.isClosed && !this.finished;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  writeHead(status: number, headers: OutgoingHttpHeaders = {}): this {
    if (this.head) throw codedError("ERR_HTTP_HEADERS_SENT", "Cannot write headers after they are sent to the client");
    this.statusCode = status;
    this.storeHead(headers, undefined);
    return this;
  }

  flushHeaders(): void {
    if (!this.head) this.storeHead({}, undefined);
    this.send(Buffer.alloc(0), false);
  }

  write(chunk: Buffer): boolean {
    if (this.ending || this.isClosed) return false;
    if (!this.head) this.storeHead({}, undefined);
    if (!this.hasBody || chunk.length === 0) return this.send(Buffer.alloc(0), false);
    return this.send(this.chunked ? frame(chunk) : chunk, false);
  }

  addTrailers(t: OutgoingHttpHeaders): void {
    headerLines(t, "Trailer");
    this.trailers = t;
  }

  end(body?: string | Buffer): this {
    if (this.ending) return this;
    this.ending = true;
    if (this.isClosed) return this;
    const b = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : body;
    if (!this.head) this.storeHead({}, b?.length ?? 0);
    let out = b && b.length > 0 && this.hasBody ? (this.chunked ? frame(b) : b) : undefined;
    if (this.chunked) {
      const tail = Buffer.from(`0\r\n${this.trailers ? headerLines(this.trailers, "Trailer").text : ""}\r\n`, "latin1");
      out = out ? Buffer.concat([out, tail]) : tail;
    }
    this.send(out ?? Buffer.alloc(0), true);
    return this;
  }

  destroy(): void {
    this.wire.destroy();
  }

  /** The connection closed (after this response, or before its end). */
  closeNow(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.emit("close");
  }

  private storeHead(headers: OutgoingHttpHeaders, endLength: number | undefined): void {
    const status = this.statusCode;
    if (status === 204 || status === 304 || (status >= 100 && status <= 199)) this.hasBody = false;
    const h = headerLines(headers, "Header");
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n${h.text}`;
    if (!h.date) text += `Date: ${utcDate()}\r\n`;
    // A transfer coding other than chunked cannot be delimited: the connection ends with the body.
    if (h.framing === "other" && this.hasBody) this.last = true;
    if (!h.connection) {
      if (!this.last) text += `Connection: keep-alive\r\nKeep-Alive: timeout=${this.wire.keepAliveTimeoutS}\r\n`;
      else text += "Connection: close\r\n";
    } else if (h.connectionClose) this.last = true;
    if (h.framing === undefined && this.hasBody) {
      if (endLength !== undefined) text += `Content-Length: ${endLength}\r\n`;
      else {
        text += "Transfer-Encoding: chunked\r\n";
        this.chunked = true;
      }
    } else if (h.framing === "chunked" && this.hasBody) this.chunked = true;
    this.head = Buffer.from(`${text}\r\n`, "latin1");
  }

  private send(b: Buffer, last: boolean): boolean {
    let out = b;
    if (!this.sent) {
      this.sent = true;
      out = b.length ? Buffer.concat([this.head!, b]) : this.head!;
    } else if (b.length === 0) {
      // Nothing left to write: no empty write (an empty DATA frame on a tunnel stream); as
      // OutgoingMessage.end, finished on the next tick.
      if (last) process.nextTick(() => this.isClosed || this.onFinish());
      return true;
    }
    return this.wire.write(out, last, last ? (e) => e || this.onFinish() : undefined);
  }

  private onFinish(): void {
    this.finished = true;
    this.emit("finish");
  }
}

/** One chunk of a chunked body. */
function frame(chunk: Buffer): Buffer {
  const size = Buffer.from(`${chunk.length.toString(16)}\r\n`, "latin1");
  return Buffer.concat([size, chunk, CRLF]);
}

const CRLF = Buffer.from("\r\n");
