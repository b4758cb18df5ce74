/**
 * HTTP inside the HBONE tunnel: each terminated tunnel stream is handed to one shared
 * HTTP/1.1 server or one shared HTTP/2 server (Node's servers accept any Duplex through
 * `emit("connection")`), chosen by the listener's HCM codec_type: HTTP1, HTTP2, or AUTO, which
 * sniffs the first bytes for the HTTP/2 connection preface ("PRI * HTTP/2.0...", prior
 * knowledge) and otherwise speaks HTTP/1.1 (keep-alive, chunked, Upgrade). The tunnel's facts
 * (listener, client identity) travel with the stream to every request on it. HTTP/2 requests
 * are served on the core stream API (downstream-h2.ts), not Node's compatibility layer.
 * HTTP/1.1 is served by the lean codec (downstream-h1.ts); the first request it does not serve
 * (Upgrade, CONNECT, Expect, a malformed head, ...) and the rest of that connection go to the
 * shared Node HTTP/1.1 server, which answers them as it always did.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { Duplex } from "node:stream";
import { logger } from "../../common/log.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";
import { handleRequest } from "./forward.js";
import { handleUpgrade } from "./upgrade.js";
import { buffersOnly } from "./buffers-only.js";
import { h2Exchange } from "./downstream-h2.js";
import { BAD_REQUEST, H1Connection } from "./downstream-h1.js";

const log = logger("waypoint.downstream");

/** Node's server options for HTTP/1.1, which the lean codec (downstream-h1.ts) keeps as well. */
const KEEP_ALIVE_TIMEOUT_MS = 60_000;
const HEADERS_TIMEOUT_MS = 60_000;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** "h2" once `buf` starts with the preface, "h1" once it cannot, undefined while it still might. */
export function sniffCodec(buf: Buffer): "h1" | "h2" | undefined {
  const n = Math.min(buf.length, PREFACE.length);
  if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) return "h1";
  return n === PREFACE.length ? "h2" : undefined;
}

export class Downstream {
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly contexts = new WeakMap<object, TunnelContext>();
  private readonly open = new Set<Duplex>();
  private adopting: TunnelContext | undefined;

  constructor(private readonly rt: ProxyRuntime) {
    this.h1 = http.createServer(
      { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 0 },
      (req, res) => {
        const ctx = this.contexts.get(req.socket);
        if (!ctx) return void res.destroy();
        void handleRequest(rt, ctx, req, res, false);
      },
    );
    this.h1.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const ctx = this.contexts.get(req.socket);
      if (!ctx) return void socket.destroy();
      void handleUpgrade(rt, ctx, req, socket, head);
    });
    this.h1.on("clientError", (e, socket) => {
      log.debug({ err: e }, "malformed HTTP/1.1 from client");
      if (!socket.destroyed) socket.end(BAD_REQUEST);
    });
    // No "request" listener: Node's compatibility layer is installed only with one.
    this.h2 = http2.createServer({});
    this.h2.on("session", (s) => {
      const ctx = this.adopting;
      s.on("error", (e) => log.debug({ err: e }, "downstream h2 session error"));
      s.on("stream", (stream, headers) => {
        if (!ctx) return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        const x = h2Exchange(stream, headers);
        if (x) void handleRequest(rt, ctx, x.req, x.res, true);
      });
    });
  }

  /** Serves HTTP on a terminated tunnel stream. */
  serve(stream: Duplex, ctx: TunnelContext): void {
    if (ctx.listener.filter.kind !== "http") return void stream.destroy();
    buffersOnly(stream);
    this.open.add(stream);
    stream.once("close", () => this.open.delete(stream));
    stream.on("error", (e) => log.debug({ err: e }, "tunnel stream error"));
    const codec = ctx.listener.filter.codec;
    if (codec === "HTTP1") return this.feed(stream, ctx, "h1");
    if (codec === "HTTP2") return this.feed(stream, ctx, "h2");
    let seen = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      seen = Buffer.concat([seen, c]);
      const kind = sniffCodec(seen);
      if (!kind) return;
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.pause();
      stream.unshift(seen);
      this.feed(stream, ctx, kind);
    };
    const onEnd = () => stream.destroy();
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.resume(); // paused by an inspector before (direct.ts)
  }

  private feed(stream: Duplex, ctx: TunnelContext, kind: "h1" | "h2"): void {
    if (kind === "h1") {
      new H1Connection(
        stream,
        {
          request: (req, res) => void handleRequest(this.rt, ctx, req, res, false),
          handoff: (rest) => this.toNodeH1(stream, ctx, rest),
        },
        { keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS },
      );
    } else {
      this.adopting = ctx;
      try {
        this.h2.emit("connection", stream);
      } finally {
        this.adopting = undefined;
      }
      // A socket on a native handle (the native engine's tunnels): the HTTP/2 session reads the
      // handle itself and takes the bytes the sniff put back from the socket's buffer on the next
      // tick; resuming would hand those bytes to 'data' listeners instead, i.e. to nobody.
      if (stream instanceof net.Socket) return;
    }
    stream.resume();
  }

  /** Node's HTTP/1.1 server serves the rest of the stream: what the lean codec does not (downstream-h1.ts). */
  private toNodeH1(stream: Duplex, ctx: TunnelContext, rest: Buffer): void {
    stream.pause();
    if (rest.length) stream.unshift(rest);
    this.contexts.set(stream, ctx);
    this.h1.emit("connection", stream);
    stream.resume();
  }

  /** Open tunnel streams carrying HTTP. */
  get connections(): number {
    return this.open.size;
  }

  close(): void {
    for (const s of this.open) s.destroy();
    this.h1.closeAllConnections();
  }
}
