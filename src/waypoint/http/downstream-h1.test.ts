/**
 * The lean HTTP/1.1 codec on an in-memory stream pair, against Node's real http.Server (llhttp):
 * who answers each input (the lean codec, or Node's server after the handoff), that both read an
 * accepted request the same, and that H1Response writes the bytes ServerResponse writes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { type Duplex, duplexPair } from "node:stream";
import { BAD_REQUEST, H1Connection } from "./downstream-h1.js";
import type { H1AnyRequest, H1Request, H1Response } from "./downstream-h1-message.js";
import { HEAD_LIMIT, parseHead } from "./downstream-h1-parse.js";

type Req = http.IncomingMessage | H1AnyRequest;
type Res = http.ServerResponse | H1Response;
type Respond = (req: Req, res: Res, body: string) => void;

/** Answers with what was read: who served it, the head and the body. */
const echo =
  (by: string): Respond =>
  (req, res, body) => {
    const text = JSON.stringify({ by, method: req.method, url: req.url, headers: req.headers, body });
    res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
    res.end(text);
  };

function readAll(req: Req, then: (body: string) => void): void {
  let body = "";
  req.on("data", (c: Buffer) => (body += c.toString("latin1")));
  req.on("end", () => then(body));
}

/** Node's server as downstream.ts sets it up, serving with `respond`. */
function nodeServer(respond: Respond): http.Server {
  const s = http.createServer({ keepAliveTimeout: 60_000, headersTimeout: 60_000, requestTimeout: 0 }, (req, res) =>
    readAll(req, (body) => respond(req, res, body)),
  );
  s.on("upgrade", (_req, socket: Duplex) => socket.end("HTTP/1.1 501 Not Implemented\r\nx-by: node-upgrade\r\n\r\n"));
  s.on("connect", (_req, socket: Duplex) => socket.end("HTTP/1.1 501 Not Implemented\r\nx-by: node-connect\r\n\r\n"));
  s.on("clientError", (_e, socket) => {
    if (!socket.destroyed) socket.end(BAD_REQUEST);
  });
  return s;
}

/** The lean codec on one end of a pair, handing off to `node`; returns the client end. */
function leanPair(respond: Respond, node: http.Server, opts = { keepAliveTimeoutMs: 60_000, headersTimeoutMs: 60_000 }): Duplex {
  const [client, server] = duplexPair();
  new H1Connection(
    server,
    {
      request: (req, res) => readAll(req, (body) => respond(req, res, body)),
      handoff: (rest) => {
        server.pause();
        if (rest.length) server.unshift(rest);
        node.emit("connection", server);
        server.resume();
      },
    },
    opts,
  );
  return client;
}

function nodePair(node: http.Server): Duplex {
  const [client, server] = duplexPair();
  node.emit("connection", server);
  return client;
}

/** Writes `pieces` and collects what comes back until the stream ends or is quiet for `quietMs`. */
function talk(client: Duplex, pieces: readonly Buffer[], quietMs = 60): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      client.destroy();
      resolve(out);
    };
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    client.on("data", (c: Buffer) => {
      out += c.toString("latin1");
      quiet();
    });
    client.on("end", done);
    client.on("error", done);
    for (const p of pieces) client.write(p);
    quiet();
  });
}

const b = (s: string) => Buffer.from(s, "latin1");
const noDate = (s: string) => s.replace(/Date: [^\r]*\r\n/g, "Date: -\r\n");

/** Inputs the lean codec hands to Node's server: Node (llhttp) is what answers each. */
const HANDED_OFF: ReadonlyArray<readonly [string, string]> = [
  ["upgrade (WebSocket)", "GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"],
  ["connection: upgrade alone", "GET / HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\n\r\n"],
  ["CONNECT", "CONNECT svc:80 HTTP/1.1\r\nhost: svc:80\r\n\r\n"],
  ["expect: 100-continue", "POST / HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 1\r\n\r\na"],
  ["expect: other", "POST / HTTP/1.1\r\nhost: x\r\nexpect: fly\r\n\r\n"],
  [
    "content-length and transfer-encoding",
    "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["transfer-encoding gzip, chunked", "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n"],
  ["transfer-encoding Chunked (case)", "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"],
  ["duplicate content-length", "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\na"],
  ["content-length with a sign", "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: +1\r\n\r\na"],
  ["content-length list", "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1, 1\r\n\r\na"],
  ["obs-fold", "GET / HTTP/1.1\r\nhost: x\r\nx-a: a\r\n b\r\n\r\n"],
  ["space before the colon", "GET / HTTP/1.1\r\nhost : x\r\n\r\n"],
  ["non-token byte in a name", "GET / HTTP/1.1\r\nhost: x\r\nx(a): 1\r\n\r\n"],
  ["NUL in a value", "GET / HTTP/1.1\r\nhost: x\r\nx-a: a\0b\r\n\r\n"],
  ["bare CR in a value", "GET / HTTP/1.1\r\nhost: x\r\nx-a: a\rb\r\n\r\n"],
  ["bare LF line ends", "GET / HTTP/1.1\nhost: x\n\n"],
  ["obs-text in a value", "GET / HTTP/1.1\r\nhost: x\r\nx-a: caf\xe9\r\n\r\n"],
  ["absolute-form target", "GET http://svc/ HTTP/1.1\r\nhost: svc\r\n\r\n"],
  ["asterisk-form target", "OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n"],
  ["fragment in the target", "GET /a#b HTTP/1.1\r\nhost: x\r\n\r\n"],
  ["HTTP/1.0 without keep-alive", "GET / HTTP/1.0\r\n\r\n"],
  ["HTTP/1.0 with keep-alive", "GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"],
  ["HTTP/2.0 in a request line", "GET / HTTP/2.0\r\nhost: x\r\n\r\n"],
  ["lower-case method", "get / HTTP/1.1\r\nhost: x\r\n\r\n"],
  ["unknown method", "PROPFIND / HTTP/1.1\r\nhost: x\r\n\r\n"],
  ["no host", "GET / HTTP/1.1\r\n\r\n"],
  ["repeated header", "GET / HTTP/1.1\r\nhost: x\r\ncookie: a=1\r\ncookie: b=2\r\n\r\n"],
  ["empty line before the request line", "\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n"],
  ["double space in the request line", "GET  / HTTP/1.1\r\nhost: x\r\n\r\n"],
  ["connection option other than close/keep-alive", "GET / HTTP/1.1\r\nhost: x\r\nconnection: te\r\nte: trailers\r\n\r\n"],
  ["TLS bytes", "\x16\x03\x01\x00\xa5\x01\x00\x00"],
  ["a head longer than the lean limit", `GET / HTTP/1.1\r\nhost: x\r\nx-long: ${"a".repeat(HEAD_LIMIT)}\r\n\r\n`],
  ["a head longer than Node's limit", `GET / HTTP/1.1\r\nhost: x\r\nx-long: ${"a".repeat(20_000)}\r\n\r\n`],
];

for (const [name, input] of HANDED_OFF) {
  test(`h1 codec: ${name} is handed off, and Node's server answers it as it does alone`, async () => {
    assert.equal(parseHead(b(input)).kind, "handoff");
    const lean = await talk(leanPair(echo("lean"), nodeServer(echo("node"))), [b(input)]);
    const alone = await talk(nodePair(nodeServer(echo("node"))), [b(input)]);
    assert.ok(!lean.includes('"by":"lean"'), lean);
    assert.equal(noDate(lean), noDate(alone));
  });
}

test("h1 codec: after served requests, the first handed-off head and the rest of the connection go to Node's server", async () => {
  const input =
    "GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\ncookie: a\r\ncookie: b\r\n\r\nGET /3 HTTP/1.1\r\nhost: x\r\n\r\n";
  const out = await talk(leanPair(echo("lean"), nodeServer(echo("node"))), [b(input)]);
  const bodies = out.match(/\{"by".*?"body":"[^"]*"\}/g) ?? [];
  assert.deepEqual(
    bodies.map((t) => [JSON.parse(t).by, JSON.parse(t).url]),
    [
      ["lean", "/1"],
      ["node", "/2"],
      ["node", "/3"],
    ],
  );
});

/** Requests the lean codec serves; each read the same as Node's server reads it. */
const SERVED: ReadonlyArray<readonly [string, string, number]> = [
  ["a GET", "GET /a?b=c HTTP/1.1\r\nHost: svc\r\nUser-Agent: t\r\nx-a:\t a \t b\t \r\nx-e:\r\n\r\n", 1],
  ["a body by content-length", "POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello", 1],
  ["content-length 0", "POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n", 1],
  [
    "a chunked body with extensions and trailers",
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n2;q="1 2"\r\nde\r\n0\r\nx-t: 1\r\n\r\n',
    1,
  ],
  [
    "pipelined requests in one read",
    "GET /1 HTTP/1.1\r\nhost: x\r\n\r\nPOST /2 HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nabGET /3 HTTP/1.1\r\nhost: x\r\n\r\n",
    3,
  ],
  ["connection: close", "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", 1],
];

for (const [name, input, n] of SERVED) {
  test(`h1 codec: serves ${name} and reads it as llhttp does, whole and split at every byte`, async () => {
    const alone = await talk(nodePair(nodeServer(echo("x"))), [b(input)]);
    const whole = await talk(leanPair(echo("x"), nodeServer(echo("node"))), [b(input)]);
    assert.equal(noDate(whole), noDate(alone));
    assert.equal(whole.split("HTTP/1.1 200 OK").length - 1, n);
    const bytes = [...b(input)].map((c) => Buffer.from([c]));
    const split = await talk(leanPair(echo("x"), nodeServer(echo("node"))), bytes);
    assert.equal(noDate(split), noDate(alone));
  });
}

test("h1 codec: nothing after a connection: close request is served (Node's server answers 400 instead of the response)", async () => {
  const input = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\nGET /never HTTP/1.1\r\nhost: x\r\n\r\n";
  const lean = await talk(leanPair(echo("lean"), nodeServer(echo("node"))), [b(input)]);
  assert.equal(lean.split("HTTP/1.1 ").length - 1, 1);
  assert.match(lean, /^HTTP\/1.1 200 OK\r\n[^]*Connection: close\r\n\r\n\{"by":"lean","method":"GET","url":"\/"/);
  // llhttp reports data after `Connection: close` as a parse error, whose 400 overtakes the response.
  const alone = await talk(nodePair(nodeServer(echo("node"))), [b(input)]);
  assert.equal(alone, BAD_REQUEST.toString("latin1"));
});

test("h1 codec: a malformed chunked body is a 400 and the end of the connection, as llhttp's", async () => {
  const input = "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n";
  const lean = await talk(leanPair(echo("lean"), nodeServer(echo("node"))), [b(input)]);
  assert.equal(lean, BAD_REQUEST.toString("latin1"));
  const alone = await talk(nodePair(nodeServer(echo("node"))), [b(input)]);
  assert.equal(alone, BAD_REQUEST.toString("latin1"));
});

test("h1 codec: a partial head at the stream's end is a 400, as Node's server answers", async () => {
  for (const pair of [() => leanPair(echo("lean"), nodeServer(echo("node"))), () => nodePair(nodeServer(echo("node")))]) {
    const c = pair();
    const out = talk(c, [b("GET / HTTP/1.1\r\nhost: x\r\n")]);
    c.end();
    assert.equal(await out, BAD_REQUEST.toString("latin1"));
  }
});

/** Response scenarios: the same calls on ServerResponse and H1Response write the same bytes. */
const RESPONSES: ReadonlyArray<readonly [string, string, (res: Res) => void]> = [
  [
    "content-length and a set-cookie list",
    "GET",
    (res) => (res.writeHead(200, { "content-length": "2", "set-cookie": ["a=1", "b=2"] }), res.end("hi")),
  ],
  [
    "chunked with trailers",
    "GET",
    (res) => {
      res.writeHead(201, { "x-y": "z" });
      res.write(Buffer.from("abc"));
      res.write(Buffer.alloc(0));
      res.addTrailers({ "grpc-status": "0" });
      res.end();
    },
  ],
  ["204", "GET", (res) => (res.writeHead(204, {}), res.end())],
  ["304 with a body written", "GET", (res) => (res.writeHead(304, { etag: "1" }), res.end("x"))],
  ["HEAD with a content-length", "HEAD", (res) => (res.writeHead(200, { "content-length": "10" }), res.end())],
  ["HEAD without framing", "HEAD", (res) => (res.writeHead(200, {}), res.end())],
  ["end(body) without writeHead", "GET", (res) => res.end("xyz")],
  ["an unknown status", "GET", (res) => (res.writeHead(299, {}), res.end())],
  ["a Date given", "GET", (res) => (res.writeHead(200, { date: "yesterday", "content-length": "0" }), res.end())],
  ["numbers as header values", "GET", (res) => (res.writeHead(200, { "content-length": 1, "x-n": 5 }), res.end("1"))],
];

for (const [name, method, f] of RESPONSES) {
  test(`h1 codec: a response with ${name} is written as ServerResponse writes it`, async () => {
    const respond: Respond = (_req, res) => f(res);
    const input = b(`${method} / HTTP/1.1\r\nhost: x\r\n\r\n${method} / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    const lean = await talk(leanPair(respond, nodeServer(echo("node"))), [input]);
    const alone = await talk(nodePair(nodeServer(respond)), [input]);
    assert.equal(noDate(lean), noDate(alone));
  });
}

test("h1 codec: header injection is refused as ServerResponse refuses it (CR/LF in a value, a bad name)", async () => {
  for (const headers of [{ "x-a": "a\r\nx-b: b" }, { "x-a": "a\nb" }, { "x-a": "a\0b" }, { "bad name": "1" }, { "": "1" }]) {
    const codes: string[] = [];
    const respond: Respond = (_req, res) => {
      try {
        res.writeHead(200, headers);
      } catch (e) {
        codes.push((e as { code: string }).code);
      }
      res.destroy();
    };
    const input = b("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    const lean = await talk(leanPair(respond, nodeServer(echo("node"))), [input]);
    const alone = await talk(nodePair(nodeServer(respond)), [input]);
    assert.equal(lean, "");
    assert.equal(alone, "");
    assert.equal(codes.length, 2);
    assert.equal(codes[0], codes[1]);
  }
});

test("h1 codec: request body backpressure pauses the stream; an unread body is dropped before the next request", async () => {
  const [client, server] = duplexPair();
  let first: { req: H1Request; res: H1Response } | undefined;
  const served: string[] = [];
  new H1Connection(
    server,
    {
      request: (req, res) => {
        served.push(req.url);
        if (!first) {
          // A POST with a body: the Readable form.
          first = { req: req as H1Request, res };
          req.pause();
          return;
        }
        res.writeHead(200, { "content-length": "0" });
        res.end();
      },
      handoff: (rest, reason) =>
        assert.fail(`no handoff: ${reason} ${JSON.stringify(rest.subarray(0, 40).toString("latin1"))} ${rest.length}`),
    },
    { keepAliveTimeoutMs: 60_000, headersTimeoutMs: 60_000 },
  );
  const size = 4 << 20;
  client.write(b(`POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: ${size}\r\n\r\n`));
  const chunk = Buffer.alloc(64 * 1024, 97);
  let sent = 0;
  for (let more = true; sent < size && more; sent += chunk.length) more = client.write(chunk);
  await new Promise((r) => setTimeout(r, 50));
  // The stream stopped taking bytes long before the whole body: nothing buffers it unboundedly.
  assert.ok(sent < size / 4, `${sent} bytes taken without a reader`);
  assert.ok(first && first.req.readableLength <= 64 * 1024, `${first?.req.readableLength} bytes buffered in the request`);
  // Answered without reading the body: the rest is read and dropped, then the next request is served.
  first.res.writeHead(200, { "content-length": "0" });
  first.res.end();
  const rest: Buffer[] = [];
  for (; sent < size; sent += chunk.length) rest.push(chunk);
  rest.push(b("GET /next HTTP/1.1\r\nhost: x\r\n\r\n"));
  const out = await talk(client, rest, 200);
  assert.equal(out.split("HTTP/1.1 200 OK").length - 1, 2);
  assert.deepEqual(served, ["/big", "/next"]);
});

test("h1 codec: the stream's end aborts a request in flight (aborted, then close) and ends the stream, as Node's server", async () => {
  const [client, server] = duplexPair();
  const events: string[] = [];
  new H1Connection(
    server,
    {
      request: (req, res) => {
        // A POST with a body: the Readable form.
        const r = req as H1Request;
        r.on("aborted", () => events.push("aborted"));
        r.on("close", () => events.push("req close"));
        res.once("close", () => events.push(`res close finished=${res.writableFinished}`));
        req.resume();
      },
      handoff: (rest, reason) =>
        assert.fail(`no handoff: ${reason} ${JSON.stringify(rest.subarray(0, 40).toString("latin1"))} ${rest.length}`),
    },
    { keepAliveTimeoutMs: 60_000, headersTimeoutMs: 60_000 },
  );
  const out = talk(client, [b("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc")]);
  await new Promise((r) => setTimeout(r, 10));
  client.end();
  assert.equal(await out, "");
  assert.deepEqual(events, ["aborted", "req close", "res close finished=false"]);
});

test("h1 codec: an idle connection is destroyed after the keep-alive timeout; a partial head gets 408", async () => {
  const opts = { keepAliveTimeoutMs: 50, headersTimeoutMs: 50 };
  const idle = leanPair(echo("lean"), nodeServer(echo("node")), opts);
  const closed = new Promise<void>((r) => idle.once("close", () => r()));
  const started = Date.now();
  const out = await talk(idle, [b("GET / HTTP/1.1\r\nhost: x\r\n\r\n")], 1000);
  await closed;
  assert.ok(out.includes('"by":"lean"'));
  assert.ok(Date.now() - started < 1000, "closed by the keep-alive timeout, not by the test");
  const partial = leanPair(echo("lean"), nodeServer(echo("node")), opts);
  assert.match(await talk(partial, [b("GET / HTTP/1.1\r\nhost")], 1000), /^HTTP\/1.1 408 Request Timeout\r\n/);
});

test("h1 codec: a bodiless request is the light form: 'end' then 'close' on the next tick, never 'data'; off() removes", async () => {
  const { H1BodilessRequest } = await import("./downstream-h1-message.js");
  const head = parseHead(b("GET /x?y HTTP/1.1\r\nhost: h\r\n\r\n"), 0);
  assert.equal(head.kind, "head");
  if (head.kind !== "head") return;
  const req = new H1BodilessRequest(head.head);
  const events: string[] = [];
  const dropped = () => events.push("dropped");
  req.on("data", () => events.push("data"));
  req.once("end", () => events.push(`end ended=${req.readableEnded}`));
  req.on("close", () => events.push("close"));
  req.on("end", dropped);
  req.off("end", dropped);
  assert.equal(req.readableEnded, false);
  assert.deepEqual([req.method, req.url, req.headers.host, req.complete], ["GET", "/x?y", "h", true]);
  req.pause().resume();
  await new Promise((r) => process.nextTick(r));
  assert.deepEqual(events, ["end ended=true", "close"]);
  req.on("end", () => events.push("late end"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ["end ended=true", "close"], "a listener added after the end is not called (the event is over)");
});
