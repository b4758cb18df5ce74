/**
 * The local cluster's echo backend (`weft local echo`, run as a pod's container): answers every
 * request with JSON describing the pod that served it and the request it saw, like the echo
 * server Gateway API's conformance tests use (echo-basic), so routing can be seen and tested.
 *
 * One port speaks HTTP/1.1 (keep-alive, chunked) and HTTP/2 with prior knowledge (h2c): the
 * first bytes of a connection decide (the HTTP/2 client preface `PRI * HTTP/2.0...`). gRPC on
 * the same port: a request with `content-type: application/grpc*` on any method path gets one
 * length-prefixed message holding the same JSON (the message bytes are the JSON, no protobuf
 * schema: a client uses identity (de)serializers) and trailers `grpc-status: 0`.
 *
 * Knobs a test can send (request headers, never needed for normal use):
 *   `x-echo-status: 503`        answer with that status (100-599 excluded 1xx);
 *   `x-echo-set-header: k: v`   add a response header (repeatable, comma separated pairs not split);
 *   `x-echo-delay-ms: 250`      answer after that many milliseconds (0-60000; resilience tests).
 * And one flag: `--fail-every N` answers every Nth request with 503 on its own (a backend that
 * fails a share of its requests whatever the client sends: outlier-detection tests).
 * Each answered request is also logged as one JSON line on stdout (what a mirrored request's
 * target shows in STATE/logs/).
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { type Result, ok, err } from "../common/result.js";

export interface EchoIdentity {
  readonly pod: string;
  readonly namespace: string;
  readonly service: string;
  readonly node: string;
}

/** What the echo answers (JSON). */
export interface EchoReply extends EchoIdentity {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** Query parameters; a repeated name's values are joined with ",". */
  readonly query: Readonly<Record<string, string>>;
  /** `Host` (HTTP/1.1) or `:authority` (HTTP/2). */
  readonly host: string;
  /** Request headers, lower-case names, repeated values joined with ", " (HTTP/2 pseudo-headers omitted). */
  readonly headers: Readonly<Record<string, string>>;
  readonly proto: "HTTP/1.1" | "HTTP/1.0" | "HTTP/2.0";
  readonly grpc: boolean;
  readonly tls: false;
  /** The peer address the server saw (a waypoint's or ztunnel's spoofed source in the mesh). */
  readonly remote: string;
  readonly bodyBytes: number;
}

export interface RequestView {
  readonly method: string;
  /** Request target as sent (`/a/b?x=1`). */
  readonly target: string;
  readonly host: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly proto: EchoReply["proto"];
  readonly remote: string;
  readonly bodyBytes: number;
}

/** Pure: the reply for one request. */
export function echoReply(id: EchoIdentity, r: RequestView): EchoReply {
  const q = r.target.indexOf("?");
  const path = q < 0 ? r.target : r.target.slice(0, q);
  const query: Record<string, string> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(r.target.slice(q + 1))) query[k] = k in query ? `${query[k]},${v}` : v;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  const ct = headers["content-type"] ?? "";
  return {
    ...id,
    method: r.method,
    path,
    query,
    host: r.host,
    headers,
    proto: r.proto,
    grpc: r.proto === "HTTP/2.0" && ct.startsWith("application/grpc"),
    tls: false,
    remote: r.remote,
    bodyBytes: r.bodyBytes,
  };
}

/** Pure: the status and extra response headers a request asks for with the `x-echo-*` knobs. */
export function echoKnobs(headers: Readonly<Record<string, string>>): Result<{ status: number; set: [string, string][]; delayMs: number }> {
  let status = 200;
  let delayMs = 0;
  const dl = headers["x-echo-delay-ms"];
  if (dl !== undefined) {
    const n = Number(dl);
    if (!Number.isInteger(n) || n < 0 || n > 60_000) return err(new Error(`x-echo-delay-ms: ${JSON.stringify(dl)} is not 0-60000`));
    delayMs = n;
  }
  const s = headers["x-echo-status"];
  if (s !== undefined) {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 200 || n > 599) return err(new Error(`x-echo-status: ${JSON.stringify(s)} is not a status 200-599`));
    status = n;
  }
  const set: [string, string][] = [];
  for (const item of (headers["x-echo-set-header"] ?? "").split(", ").filter(Boolean)) {
    const i = item.indexOf(":");
    if (i <= 0) return err(new Error(`x-echo-set-header: ${JSON.stringify(item)} is not "name: value"`));
    set.push([item.slice(0, i).trim().toLowerCase(), item.slice(i + 1).trim()]);
  }
  return ok({ status, set, delayMs });
}

/** gRPC length-prefixed message framing (uncompressed). */
export function grpcFrame(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Pure: whether the first bytes are HTTP/2's preface (true), not it (false), or too short to say (undefined). */
export function sniffPreface(first: Buffer): boolean | undefined {
  const n = Math.min(first.length, PREFACE.length);
  if (!first.subarray(0, n).equals(PREFACE.subarray(0, n))) return false;
  return first.length >= PREFACE.length ? true : undefined;
}

export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface EchoOptions extends EchoIdentity {
  readonly host: string;
  readonly port: number;
  /** One JSON line per request (default: none). */
  readonly log?: (line: string) => void;
  /** Answer every Nth request (N >= 2) with 503 whatever it asks for (default: never). */
  readonly failEvery?: number;
}

function answer(
  o: EchoOptions,
  view: RequestView,
  respond: (status: number, headers: Record<string, string>, body: Buffer, grpc: boolean) => void,
  failing: boolean,
): void {
  const reply = echoReply(o, view);
  o.log?.(JSON.stringify({ method: reply.method, path: reply.path, host: reply.host, proto: reply.proto, remote: reply.remote }));
  const knobs = echoKnobs(reply.headers);
  if (!knobs.ok) {
    respond(400, { "content-type": "text/plain" }, Buffer.from(`${knobs.error.message}\n`), false);
    return;
  }
  const headers: Record<string, string> = { "content-type": reply.grpc ? "application/grpc" : "application/json" };
  for (const [k, v] of knobs.value.set) headers[k] = v;
  const body = Buffer.from(`${JSON.stringify(reply)}\n`);
  const status = failing ? 503 : knobs.value.status;
  const send = () => respond(status, headers, reply.grpc ? grpcFrame(body) : body, reply.grpc);
  if (knobs.value.delayMs > 0) setTimeout(send, knobs.value.delayMs);
  else send();
}

export function startEcho(o: EchoOptions): Promise<Result<EchoServer>> {
  let served = 0;
  const failing = (): boolean => o.failEvery !== undefined && ++served % o.failEvery === 0;
  const h1 = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let bytes = 0;
    req.on("data", (d: Buffer) => (bytes += d.length));
    req.on("end", () => {
      const view: RequestView = {
        method: req.method ?? "GET",
        target: req.url ?? "/",
        host: req.headers.host ?? "",
        headers: req.headers,
        proto: req.httpVersion === "1.0" ? "HTTP/1.0" : "HTTP/1.1",
        remote: req.socket.remoteAddress ?? "",
        bodyBytes: bytes,
      };
      answer(
        o,
        view,
        (status, headers, body) => {
          res.writeHead(status, { ...headers, "content-length": String(body.length) });
          res.end(body);
        },
        failing(),
      );
    });
  });
  const h2 = http2.createServer();
  h2.on("stream", (stream, hdrs) => {
    let bytes = 0;
    stream.on("data", (d: Buffer) => (bytes += d.length));
    stream.on("error", () => undefined);
    stream.on("end", () => {
      const view: RequestView = {
        method: String(hdrs[":method"] ?? "GET"),
        target: String(hdrs[":path"] ?? "/"),
        host: String(hdrs[":authority"] ?? hdrs.host ?? ""),
        headers: hdrs,
        proto: "HTTP/2.0",
        remote: stream.session?.socket?.remoteAddress ?? "",
        bodyBytes: bytes,
      };
      answer(
        o,
        view,
        (status, headers, body, grpc) => {
          if (stream.destroyed) return;
          if (grpc) {
            // gRPC: always HTTP 200; the status travels in the trailers.
            stream.respond({ ":status": 200, ...headers }, { waitForTrailers: true });
            stream.on("wantTrailers", () =>
              stream.sendTrailers({
                "grpc-status": status === 200 ? "0" : "2",
                ...(status === 200 ? {} : { "grpc-message": `HTTP ${status}` }),
              }),
            );
          } else stream.respond({ ":status": status, ...headers, "content-length": String(body.length) });
          stream.end(body);
        },
        failing(),
      );
    });
  });
  h2.on("sessionError", () => undefined);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const isH2 = sniffPreface(buf);
      if (isH2 === undefined) return;
      socket.off("data", onData);
      socket.pause();
      socket.unshift(buf);
      // The HTTP/2 session reads the unshifted bytes itself; resuming would hand them to no one.
      if (isH2) h2.emit("connection", socket);
      else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });
  return new Promise((resolve) => {
    server.once("error", (e) => resolve(err(new Error(`echo: listen ${o.host}:${o.port}: ${e.message}`))));
    server.listen(o.port, o.host, () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve(
        ok({
          port,
          close: async () => {
            for (const s of sockets) s.destroy();
            await new Promise<void>((r) => server.close(() => r()));
            h1.close();
            h2.close();
          },
        }),
      );
    });
  });
}
