/**
 * One HTTP/2 downstream request on Node's HTTP/2 core stream API (`session.on("stream")`,
 * `stream.respond`), in the shape the request path (forward.ts, upstream-request.ts) shares with
 * HTTP/1.1's IncomingMessage / ServerResponse: the subset it uses, delegated to the stream. It
 * replaces Node's compatibility layer (Http2ServerRequest / Http2ServerResponse), which wraps
 * the stream in a second Readable (every body chunk pushed twice), a legacy Stream with five
 * listeners, a header map copied per header, and always asks for trailers (an empty DATA frame
 * with END_STREAM after every response).
 *
 * Invariants: the request body is the stream's own readable side (pause/resume act on it);
 * "close" and "drain" are the stream's; trailers are waited for only when the head is sent with
 * `trailers: true` (a relayed HTTP/2 upstream response, whose trailers are known at its end);
 * every other response ends with its last DATA frame (or its HEADERS).
 */
import http2 from "node:http2";
import type http from "node:http";
import { logger } from "../../common/log.js";

const log = logger("waypoint.downstream");

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP_STATUS_METHOD_NOT_ALLOWED, HTTP_STATUS_EXPECTATION_FAILED } =
  http2.constants;

type Listener = (...args: never[]) => void;

/** The request side: head facts plus the stream's readable side. */
export class H2Request {
  readonly httpVersion = "2.0";
  readonly method: string;
  readonly url: string;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    /** The stream's header map (pseudo-headers included); filters may edit it, as with the compatibility layer. */
    readonly headers: http.IncomingHttpHeaders,
  ) {
    this.method = String(headers[HTTP2_HEADER_METHOD] ?? "GET");
    this.url = String(headers[HTTP2_HEADER_PATH] ?? "/");
  }

  get readableEnded(): boolean {
    return this.stream.readableEnded;
  }

  on(event: "data" | "end" | "close", f: Listener): this {
    this.stream.on(event, f as (...args: unknown[]) => void);
    return this;
  }

  once(event: "data" | "end" | "close", f: Listener): this {
    this.stream.once(event, f as (...args: unknown[]) => void);
    return this;
  }

  off(event: "data" | "end" | "close", f: Listener): this {
    this.stream.off(event, f as (...args: unknown[]) => void);
    return this;
  }

  pause(): this {
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.stream.resume();
    return this;
  }
}

/** The response side: head, body and trailers written on the stream. */
export class H2Response {
  /** The status of a response ended without a head (compatibility layer's default). */
  statusCode = 200;
  private ending = false;
  private trailers: http.OutgoingHttpHeaders | undefined;

  constructor(readonly stream: http2.ServerHttp2Stream) {}

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get writableEnded(): boolean {
    return this.ending;
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get closed(): boolean {
    return this.stream.closed;
  }

  once(event: "close" | "drain", f: () => void): this {
    this.stream.once(event, f);
    return this;
  }

  /** Sends the head; `trailers`: the stream waits for addTrailers()/end() to send them. */
  writeHead(status: number, headers: http.OutgoingHttpHeaders, trailers = false): this {
    this.statusCode = status;
    const h = headers as http2.OutgoingHttpHeaders;
    h[HTTP2_HEADER_STATUS] = status;
    if (trailers) {
      this.stream.respond(h, { waitForTrailers: true });
      this.stream.once("wantTrailers", () => this.stream.sendTrailers(this.trailers ?? {}));
    } else this.stream.respond(h);
    return this;
  }

  write(chunk: Buffer): boolean {
    if (this.ending || this.stream.destroyed) return false;
    if (!this.stream.headersSent) this.writeHead(this.statusCode, {});
    return this.stream.write(chunk);
  }

  addTrailers(t: http.OutgoingHttpHeaders): void {
    this.trailers = t;
  }

  end(body?: string | Buffer): this {
    if (this.ending) return this;
    this.ending = true;
    const st = this.stream;
    if (st.destroyed || st.closed) return this;
    if (!st.headersSent) {
      const empty = body === undefined || body.length === 0;
      st.respond({ [HTTP2_HEADER_STATUS]: this.statusCode }, { endStream: empty });
      if (empty) return this;
    }
    if (body !== undefined && body.length > 0) st.end(body);
    else st.end();
    return this;
  }

  destroy(): void {
    this.stream.destroy();
  }
}

function onStreamError(this: http2.ServerHttp2Stream, e: Error): void {
  log.debug({ err: e }, "downstream h2 stream error");
}

/**
 * The request/response pair for a new stream, or undefined when it was answered here as Node's
 * compatibility layer answers it (CONNECT: 405; an `expect` other than 100-continue: 417).
 */
export function h2Exchange(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
): { readonly req: H2Request; readonly res: H2Response } | undefined {
  stream.on("error", onStreamError);
  const method = headers[HTTP2_HEADER_METHOD];
  const expect = headers["expect"];
  if (method === "CONNECT" || (expect !== undefined && expect !== "100-continue")) {
    const status = method === "CONNECT" ? HTTP_STATUS_METHOD_NOT_ALLOWED : HTTP_STATUS_EXPECTATION_FAILED;
    stream.respond({ [HTTP2_HEADER_STATUS]: status }, { endStream: true });
    stream.resume();
    return undefined;
  }
  if (expect !== undefined) stream.additionalHeaders({ [HTTP2_HEADER_STATUS]: 100 });
  return { req: new H2Request(stream, headers as http.IncomingHttpHeaders), res: new H2Response(stream) };
}
