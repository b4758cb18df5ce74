import { test } from "node:test";
import assert from "node:assert/strict";
import { announcesTrailers, endToEnd, h1RequestHeaders, headerBytes, joinRepeated } from "./hop.js";

test("endToEnd drops hop-by-hop, pseudo and connection-named headers, keeps te only as trailers", () => {
  const cases: [string, Record<string, string | string[] | undefined>, Record<string, string | string[]>][] = [
    ["plain", { "content-type": "text/plain", "x-a": ["1", "2"] }, { "content-type": "text/plain", "x-a": ["1", "2"] }],
    [
      "hop-by-hop and host",
      { connection: "keep-alive", "keep-alive": "timeout=5", "transfer-encoding": "chunked", host: "h", upgrade: "ws", "x-b": "b" },
      { "x-b": "b" },
    ],
    ["pseudo-headers", { ":method": "GET", ":path": "/", ":authority": "a", accept: "*/*" }, { accept: "*/*" }],
    ["named by connection", { connection: "X-Drop, , close", "x-drop": "1", "x-keep": "2" }, { "x-keep": "2" }],
    ["te trailers", { te: "trailers, deflate" }, { te: "trailers" }],
    ["te other", { te: "gzip" }, {}],
    ["undefined values", { "x-u": undefined, "x-v": "v" }, { "x-v": "v" }],
  ];
  for (const [name, h, want] of cases) assert.deepEqual(endToEnd(h), want, name);
});

test("headerBytes counts name, value and 4 separator bytes per header line", () => {
  assert.equal(headerBytes({}), 0);
  assert.equal(headerBytes({ a: "bc" }), 1 + 2 + 4);
  assert.equal(headerBytes({ a: ["b", "cd"], n: 200, u: undefined }), 1 + 1 + 4 + (1 + 2 + 4) + (1 + 3 + 4));
});

test("h1RequestHeaders adds host and drops expect (answered downstream), keeping the rest", () => {
  const cases: [string, Record<string, string | string[]>, Record<string, string | string[]>][] = [
    ["plain", { accept: "*/*" }, { accept: "*/*", host: "a:80" }],
    ["expect", { expect: "100-continue", "content-length": "3" }, { "content-length": "3", host: "a:80" }],
    ["host replaced", { host: "old" }, { host: "a:80" }],
  ];
  for (const [name, h, want] of cases) assert.deepEqual(h1RequestHeaders(h, "a:80"), want, name);
  const h = { expect: "100-continue" };
  h1RequestHeaders(h, "a");
  assert.deepEqual(h, { expect: "100-continue" }, "the input is not changed");
});

test("announcesTrailers: a trailer header in the response head", () => {
  assert.equal(announcesTrailers({ trailer: "x-checksum" }), true);
  assert.equal(announcesTrailers({ "transfer-encoding": "chunked" }), false);
});

test("joinRepeated presents repeated header lines as Node's IncomingMessage did", () => {
  const cases: [string, Record<string, string | string[]>, Record<string, string | string[]>][] = [
    ["no repeats", { a: "1", "set-cookie": ["x=1"] }, { a: "1", "set-cookie": ["x=1"] }],
    ["a list header joins with a comma", { vary: ["accept", "origin"] }, { vary: "accept, origin" }],
    ["set-cookie stays a list", { "set-cookie": ["a=1", "b=2"] }, { "set-cookie": ["a=1", "b=2"] }],
    [
      "a single-valued header keeps the first",
      { "content-type": ["text/plain", "text/html"], location: ["/a", "/b"] },
      { "content-type": "text/plain", location: "/a" },
    ],
    ["cookie joins with a semicolon", { cookie: ["a=1", "b=2"] }, { cookie: "a=1; b=2" }],
  ];
  for (const [name, h, want] of cases) assert.deepEqual(joinRepeated(h), want, name);
});
