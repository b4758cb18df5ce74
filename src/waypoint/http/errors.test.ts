import { test } from "node:test";
import assert from "node:assert/strict";
import { errors as undici } from "undici";
import { failureResponse, classifyUpstreamError, UNDICI_FLAGS } from "./errors.js";
import { sniffCodec } from "./downstream.js";
import { shadowAuthority } from "./forward.js";
import { endToEnd } from "./hop.js";

test("errors: Envoy's statuses and response flags, in one place", () => {
  const cases: Array<[Parameters<typeof failureResponse>[0], number, string]> = [
    ["NR", 404, "NR"],
    ["NC", 503, "NC"],
    ["UH", 503, "UH"],
    ["UF", 503, "UF"],
    ["UR", 503, "UR"],
    ["UC", 503, "UC"],
    ["UPE", 502, "UPE"],
    ["UT", 504, "UT"],
    ["UPGRADE", 403, ""],
  ];
  for (const [kind, status, flags] of cases) {
    const f = failureResponse(kind, "why");
    assert.equal(f.status, status, kind);
    assert.equal(f.flags, flags, kind);
  }
  assert.equal(failureResponse("UH", "").body, "no healthy upstream");
  assert.equal(classifyUpstreamError(Object.assign(new Error("x"), { code: "HPE_INVALID_CONSTANT" })), "UPE");
  assert.equal(classifyUpstreamError(Object.assign(new Error("x"), { code: "ECONNRESET" })), "UR");
  assert.equal(classifyUpstreamError(new Error("socket hang up")), "UC");
});

test("errors: undici's errors get the flags Node's client gave for the same event", () => {
  const coded = (code: string, name = "Error") => Object.assign(new Error("x"), { code, name });
  const cases: Array<[string, Error & { code?: string }, "UPE" | "UR" | "UC"]> = [
    ["closed under the request", new undici.SocketError("other side closed"), "UR"],
    ["ended inside a body of known length", coded("HPE_INVALID_EOF_STATE", "HTTPParserError"), "UR"],
    ["body shorter than its content-length", new undici.ResponseContentLengthMismatchError(), "UR"],
    ["response head too large", new undici.HeadersOverflowError(), "UPE"],
    ["not HTTP (a parser error without a code)", coded("", "HTTPParserError"), "UPE"],
    ["a malformed chunk", coded("HPE_INVALID_CHUNK_SIZE", "HTTPParserError"), "UPE"],
    ["request body length mismatch", new undici.RequestContentLengthMismatchError(), "UC"],
    ["closed by undici itself", new undici.InformationalError("reset"), "UC"],
    ["pool closed", new undici.ClientClosedError(), "UC"],
    ["pool destroyed", new undici.ClientDestroyedError(), "UC"],
    ["a refused header", new undici.InvalidArgumentError("invalid connection header"), "UC"],
    ["expect refused", new undici.NotSupportedError("expect header not supported"), "UC"],
    ["a TCP reset from the tunnel", coded("ECONNRESET"), "UR"],
    ["an unknown error", new Error("socket hang up"), "UC"],
    ["a code named like an Object property", coded("constructor"), "UC"],
  ];
  for (const [name, e, want] of cases) assert.equal(classifyUpstreamError(e), want, name);
  // Each mapped code has its case above, built by undici's own error class where it has one.
  const tested = new Set(cases.map(([, e]) => e.code));
  for (const code of UNDICI_FLAGS.keys()) assert.ok(tested.has(code), code);
});

test("downstream: AUTO codec sniffing decides as soon as the bytes can no longer be the HTTP/2 preface", () => {
  assert.equal(sniffCodec(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), "h2");
  assert.equal(sniffCodec(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x12\x04")), "h2");
  assert.equal(sniffCodec(Buffer.from("PRI * HT")), undefined, "could still be the preface");
  assert.equal(sniffCodec(Buffer.from("G")), "h1");
  assert.equal(sniffCodec(Buffer.from("POST / HTTP/1.1\r\n")), "h1", "P matches, O does not");
  assert.equal(sniffCodec(Buffer.from("PRI / HTTP/1.1\r\n")), "h1");
});

test("forward: the mirror authority gets -shadow before the port; hop-by-hop headers never cross", () => {
  assert.equal(shadowAuthority("reviews.default.svc.cluster.local"), "reviews.default.svc.cluster.local-shadow");
  assert.equal(shadowAuthority("10.0.0.1:9080"), "10.0.0.1-shadow:9080");
  assert.deepEqual(
    endToEnd({
      ":path": "/",
      host: "h",
      connection: "keep-alive, x-drop",
      "x-drop": "1",
      "keep-alive": "5",
      te: "trailers, deflate",
      "x-keep": "k",
      upgrade: "ws",
    }),
    {
      te: "trailers",
      "x-keep": "k",
    },
  );
  assert.deepEqual(endToEnd({ te: "gzip" }), {}, "te other than trailers is dropped");
});
