/**
 * The waypoint's HTTP/1.1 upstream client against a backend that writes raw bytes, in one
 * process on loopback (127.0.65.0/24, no root): a client workload behind a real ztunnel, the
 * waypoint from a static file with one cluster whose endpoint (outside the mesh) answers each
 * request as its path asks: a plain keep-alive answer, a 103 before the answer, HEAD and 204
 * answers, chunked trailers, a connection closed mid-body (with and without `connection: close`)
 * or before any response, and bytes that are not HTTP. Shows: a pooled connection is reused
 * (and counted once in connectionsOpened), 1xx heads are dropped, bodiless answers keep the
 * connection, trailers reach HTTP/1.1 and HTTP/2 clients (the listener's codec is AUTO), and
 * each failure gets the status and response flag the waypoint gave with Node's client (UR for a
 * close, UPE for a malformed answer).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { stringify } from "yaml";
import { type MeshWithWaypoint, httpListener, startMeshWithWaypoint } from "../support/waypoint-config.js";
import type { Waypoint } from "../../src/waypoint/waypoint.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";

const IP = {
  zt: "127.0.65.1",
  client: "127.0.65.11",
  backend: "127.0.65.21",
  waypoint: "127.0.65.31",
  vip: "127.0.65.100",
  waypointVip: "127.0.65.101",
};
const HOST = "raw.default.svc.cluster.local";

const ok = (extra = "") => `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${extra}\r\nok`;
/** What the backend writes for a request path; `close`: the connection is destroyed after the bytes. */
const ANSWERS: Record<string, { bytes: string; close?: boolean }> = {
  "/reuse": { bytes: ok() },
  "/early-hints": { bytes: `HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n${ok()}` },
  "/head": { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n" },
  "/no-content": { bytes: "HTTP/1.1 204 No Content\r\n\r\n" },
  "/trailers": {
    bytes: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n2\r\nok\r\n0\r\nx-checksum: abc\r\n\r\n",
  },
  "/repeated": { bytes: ok("content-type: text/plain\r\ncontent-type: text/html\r\nvary: a\r\nvary: b\r\n") },
  "/mid-body": { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nten bytes.", close: true },
  "/mid-body-close": { bytes: "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\nten bytes.", close: true },
  "/hang-up": { bytes: "", close: true },
  "/garbage": { bytes: "NOT HTTP AT ALL\r\n\r\n", close: true },
};

/** Answers each request head from ANSWERS; counts connections. */
class RawBackend {
  connections = 0;
  private readonly server = net.createServer((s) => {
    this.connections++;
    let buf = "";
    s.on("error", () => {});
    s.on("data", (c: Buffer) => {
      buf += c.toString("latin1");
      for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const a = ANSWERS[head.split(" ")[1] ?? ""] ?? { bytes: "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n" };
        s.write(a.bytes);
        if (a.close) s.destroy();
      }
    });
  });
  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(8080, IP.backend, () => r()));
  }
  close(): void {
    this.server.close();
  }
}

const staticFile = stringify({
  static_resources: {
    listeners: [httpListener("raw", IP.vip, [{ match: { prefix: "/" }, route: { cluster: "raw", timeout: "0s" } }], "AUTO")],
    clusters: [
      {
        name: "raw",
        type: "STATIC",
        connect_timeout: "2s",
        metadata: { filter_metadata: { istio: { services: [{ host: HOST, name: "raw", namespace: "default" }] } } },
        load_assignment: {
          cluster_name: "raw",
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: IP.backend, port_value: 8080 } } } }] }],
        },
      },
    ],
  },
});

let zt: MeshWithWaypoint["zt"], wp: Waypoint;
const backend = new RawBackend();
const access: AccessLogEntry[] = [];

before(async () => {
  ({ zt, wp } = await startMeshWithWaypoint({
    ip: IP,
    service: "raw",
    staticFile,
    name: "upstream-h1.test.ts",
    accessLog: (e) => access.push(e),
  }));
  await backend.listen();
});

after(async () => {
  backend.close();
  await Promise.all([zt.stop(), wp.stop()]);
});

interface Reply {
  status: number;
  body: string;
  trailers: http.IncomingHttpHeaders;
  /** The response ended short (the client saw the connection reset mid-body). */
  aborted: boolean;
}

function send(path: string, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // A fresh connection per request: a reset answer must not take the next request with it.
    const req = http.request({ host: IP.vip, port: 80, path, method, localAddress: IP.client, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      const done = (aborted: boolean) => resolve({ status: res.statusCode ?? 0, body, trailers: res.trailers, aborted });
      res.on("end", () => done(false));
      res.on("error", () => done(true));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The access log entry of the last request to `path` (the log is written as the exchange ends). */
async function logged(path: string): Promise<AccessLogEntry> {
  for (let i = 0; i < 50; i++) {
    const e = access.filter((a) => a.path === path).at(-1);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no access log entry for ${path}`);
}

test("upstream h1: sequential requests reuse one pooled connection, counted once in connectionsOpened", async () => {
  const conns = backend.connections;
  const opened = wp.upstreams.stats().connectionsOpened;
  for (let i = 0; i < 4; i++) assert.deepEqual(await send("/reuse"), { status: 200, body: "ok", trailers: {}, aborted: false });
  assert.equal(backend.connections - conns, 1, "one upstream connection for four requests");
  assert.equal(wp.upstreams.stats().connectionsOpened - opened, 1);
});

test("upstream h1: a 103 before the answer is dropped; HEAD and 204 answers keep the connection", async () => {
  assert.deepEqual(await send("/early-hints"), { status: 200, body: "ok", trailers: {}, aborted: false });
  const conns = backend.connections;
  assert.equal((await send("/head", "HEAD")).status, 200);
  assert.equal((await send("/no-content")).status, 204);
  assert.equal((await send("/reuse")).body, "ok");
  assert.equal(backend.connections, conns, "the bodiless answers left the pooled connection usable");
});

test("upstream h1: chunked trailers reach the HTTP/1.1 client", async () => {
  const r = await send("/trailers");
  assert.equal(r.body, "ok");
  assert.deepEqual(r.trailers, { "x-checksum": "abc" });
});

/** One request over HTTP/2 (h2c prior knowledge; the listener's codec is AUTO). */
async function h2send(path: string): Promise<{ headers: http2.IncomingHttpHeaders; body: string; trailers: http2.IncomingHttpHeaders }> {
  const session = http2.connect(`http://${IP.vip}:80`, {
    createConnection: () => net.connect({ host: IP.vip, port: 80, localAddress: IP.client }),
  });
  try {
    return await new Promise((resolve, reject) => {
      const st = session.request({ ":path": path });
      let headers: http2.IncomingHttpHeaders = {};
      let body = "";
      let trailers: http2.IncomingHttpHeaders = {};
      st.on("response", (h) => (headers = h));
      st.on("data", (c: Buffer) => (body += c.toString()));
      st.on("trailers", (t) => (trailers = t));
      st.on("end", () => resolve({ headers, body, trailers }));
      st.on("error", reject);
    });
  } finally {
    session.close();
  }
}

test("upstream h1: announced chunked trailers reach an HTTP/2 client as trailers", async () => {
  const r = await h2send("/trailers");
  assert.equal(r.body, "ok");
  assert.equal(r.trailers["x-checksum"], "abc");
});

// Bounded: with a list for content-type the HTTP/2 answer is never sent (http2 refuses it), and the request would hang.
test(
  "upstream h1: repeated header lines reach HTTP/1.1 and HTTP/2 clients as Node's client presented them",
  { timeout: 5000 },
  async () => {
    const h1 = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: IP.vip, port: 80, path: "/repeated", localAddress: IP.client, agent: false }, resolve).on("error", reject),
    );
    h1.resume();
    assert.equal(h1.headers["content-type"], "text/plain");
    assert.equal(h1.headers["vary"], "a, b");
    const h2 = await h2send("/repeated");
    assert.equal(h2.headers[":status"], 200);
    assert.equal(h2.headers["content-type"], "text/plain");
    assert.equal(h2.headers["vary"], "a, b");
  },
);

test("upstream h1: a connection closed mid-body resets the downstream and is logged UR", async () => {
  for (const path of ["/mid-body", "/mid-body-close"]) {
    const r = await send(path);
    assert.equal(r.status, 200, path);
    assert.ok(r.aborted || r.body.length < 100, `${path}: the client did not get a complete body`);
    assert.equal((await logged(path)).response_flags, "UR", path);
  }
});

test("upstream h1: a close before any response is 503 UR; bytes that are not HTTP are 502 UPE", async () => {
  assert.equal((await send("/hang-up")).status, 503);
  assert.equal((await logged("/hang-up")).response_flags, "UR");
  const g = await send("/garbage");
  assert.equal(g.status, 502, JSON.stringify(await logged("/garbage")));
  assert.equal((await logged("/garbage")).response_flags, "UPE");
});
