import { test } from "node:test";
import assert from "node:assert/strict";
import { ChunkedDecoder, HEAD_LIMIT, parseHead } from "./downstream-h1-parse.js";

const b = (s: string) => Buffer.from(s, "latin1");

type Body = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" };
const NONE: Body = { kind: "none" };

/** Heads the lean codec serves: [name, head, url, headers, body framing, keep-alive]; the method is the head's first word. */
const ACCEPTED: ReadonlyArray<readonly [string, string, string, Record<string, string>, Body, boolean]> = [
  ["a GET with no body", "GET /a?b=c HTTP/1.1\r\nHost: svc\r\n\r\n", "/a?b=c", { host: "svc" }, NONE, true],
  [
    "values trimmed of OWS, inner whitespace kept, empty values",
    "GET / HTTP/1.1\r\nhost: x \t \r\nx-a:\t a \t b\t \r\nx-e:\r\n\r\n",
    "/",
    { host: "x", "x-a": "a \t b", "x-e": "" },
    NONE,
    true,
  ],
  [
    "content-length 0 is no body",
    "POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
    "/p",
    { host: "x", "content-length": "0" },
    NONE,
    true,
  ],
  [
    "content-length with leading zeros (llhttp reads it as decimal)",
    "PUT /p HTTP/1.1\r\nhost: x\r\nContent-Length: 007\r\n\r\n",
    "/p",
    { host: "x", "content-length": "007" },
    { kind: "length", length: 7 },
    true,
  ],
  [
    "chunked",
    "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
    "/",
    { host: "x", "transfer-encoding": "chunked" },
    { kind: "chunked" },
    true,
  ],
  [
    "connection: close ends keep-alive",
    "GET / HTTP/1.1\r\nhost: x\r\nConnection: keep-alive, Close\r\n\r\n",
    "/",
    { host: "x", connection: "keep-alive, Close" },
    NONE,
    false,
  ],
  ["HEAD", "HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n", "/h", { host: "x" }, NONE, true],
];

for (const [name, head, url, headers, body, keepAlive] of ACCEPTED) {
  test(`h1 parse: serves ${name}`, () => {
    const r = parseHead(b(head));
    assert.equal(r.kind, "head");
    if (r.kind !== "head") return;
    assert.equal(r.consumed, head.length);
    assert.equal(r.head.method, head.slice(0, head.indexOf(" ")));
    assert.equal(r.head.url, url);
    assert.deepEqual(r.head.headers, headers);
    assert.deepEqual(r.head.body, body);
    assert.equal(r.head.keepAlive, keepAlive);
  });
  test(`h1 parse: no prefix of ${name} is a head (split at every byte)`, () => {
    for (let n = 0; n < head.length; n++) assert.equal(parseHead(b(head.slice(0, n))).kind, "more", `prefix of ${n} bytes`);
  });
}

test("h1 parse: pipelined requests in one read are read one head at a time", () => {
  const two = b("GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
  const first = parseHead(two);
  assert.equal(first.kind, "head");
  if (first.kind !== "head") return;
  assert.equal(first.head.url, "/1");
  const second = parseHead(two, first.consumed);
  assert.ok(second.kind === "head" && second.head.url === "/2" && !second.head.keepAlive);
  assert.equal(first.consumed + (second.kind === "head" ? second.consumed : 0), two.length);
});

test("h1 parse: a partial head that cannot become one is handed off before it completes", () => {
  assert.equal(parseHead(b("GET / HTTP/1.1\n")).kind, "handoff");
  assert.equal(parseHead(b("GET / HTTP/1.1\r\nx: \x01")).kind, "handoff");
  assert.equal(parseHead(b("GET /" + "a".repeat(HEAD_LIMIT))).kind, "handoff");
  assert.equal(parseHead(b("GET / HTTP/1.1\r")).kind, "more");
});

/** Decodes a whole chunked body fed in pieces of `step` bytes; the body, what follows it, or the error. */
function decodeChunked(wire: string, step: number): { body: string; rest: string } | { error: string } {
  const d = new ChunkedDecoder();
  let buf = Buffer.alloc(0);
  let pos = 0;
  let body = "";
  for (let fed = 0; fed < wire.length || pos < buf.length;) {
    if (fed < wire.length) {
      buf = Buffer.concat([buf.subarray(pos), b(wire.slice(fed, fed + step))]);
      pos = 0;
      fed += step;
    }
    for (;;) {
      const s = d.next(buf, pos);
      if (s.kind === "error") return { error: s.reason };
      if (s.kind === "done") return { body, rest: buf.subarray(s.next).toString("latin1") + wire.slice(fed) };
      if (s.kind === "more") {
        pos = s.next;
        break;
      }
      body += buf.subarray(s.start, s.end).toString("latin1");
      pos = s.end;
    }
    if (fed >= wire.length) break;
  }
  return { error: "incomplete" };
}

const CHUNKED: ReadonlyArray<readonly [string, string, { body: string; rest: string } | "error"]> = [
  ["two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", { body: "abcde", rest: "" }],
  ["upper- and lower-case hex", "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", { body: "01234567890123456789", rest: "" }],
  ["extensions, token and quoted", '3;a=b;c\r\nabc\r\n1;q="x \\" y"\r\nd\r\n0;last\r\n\r\n', { body: "abcd", rest: "" }],
  ["trailers", "1\r\na\r\n0\r\nx-t: 1\r\ngrpc-status: 0\r\n\r\n", { body: "a", rest: "" }],
  ["the next request after the body", "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", { body: "a", rest: "GET / HTTP/1.1\r\n" }],
  ["leading zeros in a size", "0001\r\na\r\n0\r\n\r\n", { body: "a", rest: "" }],
  ["a size over 2^53", "20000000000000\r\n", "error"],
  ["a size over 2^64", "10000000000000000\r\n", "error"],
  ["a non-hex size", "g\r\n", "error"],
  ["an empty size line", "\r\n", "error"],
  ["a space before an extension", "1 ;a\r\na\r\n0\r\n\r\n", "error"],
  ["a bare LF after the size", "1\na\r\n0\r\n\r\n", "error"],
  ["data longer than its size", "1\r\nab\r\n0\r\n\r\n", "error"],
  ["a trailer without a colon", "0\r\nbad\r\n\r\n", "error"],
  ["a trailer with a control byte", "0\r\nx: a\x01\r\n\r\n", "error"],
  ["an extension without a name", "1;=a\r\na\r\n0\r\n\r\n", "error"],
  // llhttp refuses these in trailers (found by the fuzz target h1-request).
  ["content-length in the trailers", "1\r\na\r\n0\r\nContent-Length: 13\r\n\r\n", "error"],
  ["transfer-encoding in the trailers", "1\r\na\r\n0\r\ntransfer-encoding: chunked\r\n\r\n", "error"],
];

for (const [name, wire, want] of CHUNKED) {
  test(`h1 chunked: ${name}, fed whole and byte by byte`, () => {
    for (const step of [wire.length, 1, 2, 3]) {
      const got = decodeChunked(wire, step);
      if (want === "error") assert.ok("error" in got, `step ${step}: ${JSON.stringify(got)}`);
      else assert.deepEqual(got, want, `step ${step}`);
    }
  });
}
