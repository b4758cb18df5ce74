/**
 * Real backends for the waypoint tests, each bound to a workload's loopback address:
 * - an echo server speaking HTTP/1.1 and h2c (prior knowledge) on one port, answering JSON of
 *   what it received (pod, method, path, host, headers, protocol, the peer address) like the
 *   Gateway API conformance echo server, and completing WebSocket upgrades (RFC 6455
 *   handshake, echoing each text frame back);
 * - a gRPC server (@grpc/grpc-js) with a unary and a bidirectional streaming method over raw
 *   bytes;
 * - a TCP echo.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { createHash } from "node:crypto";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";

export interface Seen {
  /** The request body, once it has been read. */
  body?: string;
  pod: string;
  method: string;
  path: string;
  host: string;
  headers: Record<string, unknown>;
  proto: string;
  remote: string;
}

/** What a test asks a backend to do with one request instead of echoing at once (a test device). */
export interface Misbehaviour {
  readonly delayMs?: number;
  /** Answer this status (plain text) instead of the echo. */
  readonly status?: number;
  /** Reset instead of answering: the HTTP/1.1 connection is destroyed, the HTTP/2 stream reset (REFUSED_STREAM when `refused`). */
  readonly reset?: boolean;
  readonly refused?: boolean;
}

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One unmasked text frame (server to client). */
export function wsFrame(text: string, mask?: Buffer): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error("test frames are short");
  const head = Buffer.from([0x81, (mask ? 0x80 : 0) | payload.length]);
  if (!mask) return Buffer.concat([head, payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, masked]);
}

/** Parses one (possibly masked) short text frame. */
export function wsParse(buf: Buffer): string | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1]! & 0x80) !== 0;
  const len = buf[1]! & 0x7f;
  const off = 2 + (masked ? 4 : 0);
  if (buf.length < off + len) return undefined;
  const payload = buf.subarray(off, off + len);
  if (!masked) return payload.toString();
  const mask = buf.subarray(2, 6);
  return Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)).toString();
}

export class EchoServer {
  readonly seen: Seen[] = [];
  private readonly net: net.Server;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;

  constructor(
    readonly pod: string,
    /** Chaos on command (resilience tests): decides per request, after its body was read. */
    private readonly misbehave?: (s: Seen) => Misbehaviour | undefined,
  ) {
    const answer = (
      req: http.IncomingMessage | http2.Http2ServerRequest,
      res: http.ServerResponse | http2.Http2ServerResponse,
      proto: string,
    ) => {
      const socket = proto === "HTTP/2" ? (req as http2.Http2ServerRequest).stream.session?.socket : (req as http.IncomingMessage).socket;
      const s: Seen = {
        pod,
        method: req.method ?? "",
        path: req.url ?? "",
        host: String(req.headers[":authority"] ?? req.headers.host ?? ""),
        headers: { ...req.headers },
        proto,
        remote: `${socket?.remoteAddress}:${socket?.remotePort}`,
      };
      this.seen.push(s);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        s.body = Buffer.concat(chunks).toString();
        const echo = () => {
          (res as http.ServerResponse).writeHead(200, { "content-type": "application/json", "x-backend": pod });
          res.end(JSON.stringify(s));
        };
        const m = this.misbehave?.(s);
        if (!m) return echo();
        setTimeout(() => {
          if (m.reset) {
            if (proto === "HTTP/2")
              (req as http2.Http2ServerRequest).stream.close(
                m.refused ? http2.constants.NGHTTP2_REFUSED_STREAM : http2.constants.NGHTTP2_INTERNAL_ERROR,
              );
            else (req as http.IncomingMessage).socket.destroy();
          } else if (m.status !== undefined) {
            (res as http.ServerResponse).writeHead(m.status, { "content-type": "text/plain", "x-backend": pod });
            res.end(`${pod} says ${m.status}`);
          } else echo();
        }, m.delayMs ?? 0);
      });
    };
    this.h1 = http.createServer((req, res) => answer(req, res, `HTTP/${req.httpVersion}`));
    this.h1.on("upgrade", (req: http.IncomingMessage, socket: net.Socket) => {
      const key = String(req.headers["sec-websocket-key"] ?? "");
      const accept = createHash("sha1")
        .update(key + WS_GUID)
        .digest("base64");
      this.seen.push({
        pod,
        method: req.method ?? "",
        path: req.url ?? "",
        host: String(req.headers.host),
        headers: { ...req.headers },
        proto: "websocket",
        remote: `${socket.remoteAddress}:${socket.remotePort}`,
      });
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
      );
      let buf = Buffer.alloc(0);
      socket.on("data", (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const text = wsParse(buf);
        if (text === undefined) return;
        buf = Buffer.alloc(0);
        socket.write(wsFrame(`${pod}: ${text}`));
      });
      socket.on("error", () => {});
    });
    this.h2 = http2.createServer();
    this.h2.on("request", (req, res) => answer(req, res, "HTTP/2"));
    this.net = net.createServer((s) => {
      s.once("readable", () => {
        const head = s.read(3) as Buffer | null;
        if (!head) return s.destroy();
        s.unshift(head);
        (head.toString() === "PRI" ? this.h2 : this.h1).emit("connection", s);
      });
      s.on("error", () => {});
    });
  }

  async listen(host: string, port: number): Promise<void> {
    this.net.listen(port, host);
    await once(this.net, "listening");
  }

  close(): void {
    this.net.close();
    this.h1.closeAllConnections();
  }
}

/** Raw-bytes gRPC methods (no .proto needed): unary Echo and bidi-streaming Chat. */
const raw = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
export const ECHO_SERVICE = {
  Echo: { path: "/weft.test.Echo/Echo", requestStream: false, responseStream: false, ...raw },
  Chat: { path: "/weft.test.Echo/Chat", requestStream: true, responseStream: true, ...raw },
  Fail: { path: "/weft.test.Echo/Fail", requestStream: false, responseStream: false, ...raw },
} as const;

export async function grpcServer(pod: string, address: string): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE as unknown as grpc.ServiceDefinition, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set("x-backend", pod);
      call.sendMetadata(md);
      cb(null, Buffer.from(`${pod}: ${call.request.toString()}`));
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (b: Buffer) => call.write(Buffer.from(`${pod}: ${b.toString()}`)));
      call.on("end", () => call.end());
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb({ code: grpc.status.NOT_FOUND, details: "no such thing" }),
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  return server;
}

export async function tcpEcho(host: string, port: number): Promise<net.Server> {
  const s = net.createServer((c) => {
    c.on("error", () => {});
    c.pipe(c);
  });
  s.listen(port, host);
  await once(s, "listening");
  return s;
}

/**
 * A source-bound TCP relay, named as the test device it is: grpc-js cannot choose its local
 * address, and ztunnel identifies the client workload by it, so the gRPC client dials this
 * relay on 127.0.0.1 and the relay connects onwards from the client workload's address
 * (what the pod's own network namespace would do).
 */
export async function sourceBoundRelay(from: string, to: { host: string; port: number }): Promise<{ port: number; close(): void }> {
  const s = net.createServer((c) => {
    const up = net.connect({ host: to.host, port: to.port, localAddress: from });
    c.pipe(up).pipe(c);
    const kill = () => {
      c.destroy();
      up.destroy();
    };
    c.on("error", kill);
    up.on("error", kill);
  });
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  return { port: (s.address() as net.AddressInfo).port, close: () => s.close() };
}
