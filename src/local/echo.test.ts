import { test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { type EchoReply, echoKnobs, echoReply, grpcFrame, sniffPreface, startEcho } from "./echo.js";

const ID = { pod: "reviews-v2-abc-0", namespace: "bookinfo", service: "reviews", node: "node-1" };

test("echo: reply splits path and query, lower-cases headers, drops pseudo-headers", () => {
  const r = echoReply(ID, {
    method: "POST",
    target: "/reviews/1?a=1&b=x%20y&a=2",
    host: "reviews:9080",
    headers: { ":path": "/x", "End-User": "jason", "x-multi": ["1", "2"], "content-type": "text/plain" },
    proto: "HTTP/1.1",
    remote: "198.18.10.5",
    bodyBytes: 3,
  });
  assert.deepEqual(
    { path: r.path, query: r.query, headers: r.headers, grpc: r.grpc, pod: r.pod, service: r.service },
    {
      path: "/reviews/1",
      query: { a: "1,2", b: "x y" },
      headers: { "end-user": "jason", "x-multi": "1, 2", "content-type": "text/plain" },
      grpc: false,
      pod: ID.pod,
      service: "reviews",
    },
  );
  const g = echoReply(ID, { ...baseView, proto: "HTTP/2.0", headers: { "content-type": "application/grpc+proto" } });
  assert.equal(g.grpc, true);
  assert.equal(echoReply(ID, { ...baseView, headers: { "content-type": "application/grpc" } }).grpc, false, "gRPC needs HTTP/2");
});

const baseView = { method: "GET", target: "/", host: "h", headers: {}, proto: "HTTP/1.1" as const, remote: "", bodyBytes: 0 };

test("echo: knobs set status and response headers; bad knobs are errors naming the header", () => {
  assert.deepEqual(echoKnobs({}), { ok: true, value: { status: 200, set: [], delayMs: 0 } });
  assert.deepEqual(echoKnobs({ "x-echo-delay-ms": "250" }), { ok: true, value: { status: 200, set: [], delayMs: 250 } });
  assert.deepEqual(echoKnobs({ "x-echo-status": "503", "x-echo-set-header": "X-A: 1, x-b: two words" }), {
    ok: true,
    value: {
      status: 503,
      set: [
        ["x-a", "1"],
        ["x-b", "two words"],
      ],
      delayMs: 0,
    },
  });
  for (const [h, v] of [
    ["x-echo-status", "99"],
    ["x-echo-status", "abc"],
    ["x-echo-set-header", "novalue"],
    ["x-echo-delay-ms", "-1"],
    ["x-echo-delay-ms", "1.5"],
  ] as const) {
    const r = echoKnobs({ [h]: v });
    assert.ok(!r.ok);
    assert.match(r.error.message, new RegExp(h));
  }
});

test("echo: preface sniffing and gRPC framing", () => {
  const pre = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  assert.equal(sniffPreface(pre), true);
  assert.equal(sniffPreface(pre.subarray(0, 10)), undefined);
  assert.equal(sniffPreface(Buffer.from("GET / HTTP/1.1\r\n")), false);
  assert.equal(sniffPreface(Buffer.from("P")), undefined);
  assert.equal(sniffPreface(Buffer.from("POST / HTTP/1.1")), false);
  assert.deepEqual([...grpcFrame(Buffer.from("hi"))], [0, 0, 0, 0, 2, 104, 105]);
});

function h1Get(port: number, agent: http.Agent, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: EchoReply; socket: unknown }>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, agent, headers }, (res) => {
      let s = "";
      res.on("data", (d: Buffer) => (s += d.toString()));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(s) as EchoReply, socket: req.socket }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

test("echo: one port serves HTTP/1.1 keep-alive, h2c prior knowledge and gRPC", async () => {
  const lines: string[] = [];
  const s = await startEcho({ ...ID, host: "127.0.0.1", port: 0, log: (l) => lines.push(l) });
  assert.ok(s.ok);
  const port = s.value.port;
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const a = await h1Get(port, agent, "/a?x=1", { "end-user": "jason" });
    const b = await h1Get(port, agent, "/b", { "x-echo-status": "418", "x-echo-set-header": "x-from: echo" });
    agent.destroy();
    assert.equal(a.status, 200);
    assert.equal(a.headers["content-type"], "application/json");
    assert.deepEqual([a.body.pod, a.body.namespace, a.body.service, a.body.node], [ID.pod, ID.namespace, ID.service, ID.node]);
    assert.deepEqual(
      [a.body.method, a.body.path, a.body.query, a.body.proto, a.body.host],
      ["GET", "/a", { x: "1" }, "HTTP/1.1", `127.0.0.1:${port}`],
    );
    assert.equal(a.body.headers["end-user"], "jason");
    assert.equal(a.socket, b.socket, "second request on the same keep-alive connection");
    assert.equal(b.status, 418);
    assert.equal(b.headers["x-from"], "echo");

    const session = http2.connect(`http://127.0.0.1:${port}`);
    const h2 = await new Promise<{ status: number; body: EchoReply }>((resolve, reject) => {
      const st = session.request({ ":path": "/h2?q=v", ":method": "PUT", "end-user": "jason" });
      let status = 0;
      let body = "";
      st.on("response", (h) => (status = Number(h[":status"])));
      st.on("data", (d: Buffer) => (body += d.toString()));
      st.on("end", () => resolve({ status, body: JSON.parse(body) as EchoReply }));
      st.on("error", reject);
      st.end("abc");
    });
    session.close();
    assert.equal(h2.status, 200);
    assert.deepEqual(
      [h2.body.proto, h2.body.method, h2.body.path, h2.body.query, h2.body.bodyBytes],
      ["HTTP/2.0", "PUT", "/h2", { q: "v" }, 3],
    );
    assert.equal(h2.body.host, `127.0.0.1:${port}`);

    const id = (b: Buffer): Buffer => b;
    const Client = grpc.makeGenericClientConstructor(
      {
        Echo: {
          path: "/weft.echo.Echo/Echo",
          requestStream: false,
          responseStream: false,
          requestSerialize: id,
          requestDeserialize: id,
          responseSerialize: id,
          responseDeserialize: id,
        },
      },
      "Echo",
    );
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set("end-user", "jason");
      (client as unknown as Record<string, (...a: unknown[]) => void>).Echo!(Buffer.from("ping"), md, (e: Error | null, r?: Buffer) =>
        e ? reject(e) : resolve(JSON.parse(r!.toString()) as EchoReply),
      );
    });
    client.close();
    assert.deepEqual([reply.grpc, reply.path, reply.method, reply.proto], [true, "/weft.echo.Echo/Echo", "POST", "HTTP/2.0"]);
    assert.equal(reply.headers["end-user"], "jason");
    assert.equal(lines.length, 4, "one log line per request");
    assert.match(lines[0]!, /"path":"\/a"/);
  } finally {
    await s.value.close();
  }
});

test("echo --fail-every 2: every second request gets 503, whatever it asks for", async () => {
  const s = await startEcho({ ...ID, host: "127.0.0.1", port: 0, failEvery: 2 });
  assert.ok(s.ok);
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await h1Get(s.value.port, agent, `/f${i}`, { "x-echo-status": "201" })).status);
    agent.destroy();
    assert.deepEqual(statuses, [201, 503, 201, 503, 201, 503]);
  } finally {
    await s.value.close();
  }
});
