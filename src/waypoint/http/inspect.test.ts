import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_INSPECT, inspectProtocol } from "./inspect.js";

const cases: Array<[string, string | Buffer, string | undefined]> = [
  ["nothing yet", "", undefined],
  ["the whole h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2c"],
  ["part of the preface", "PRI * HTTP/2", undefined],
  ["an HTTP/1.1 request line", "GET / HTTP/1.1\r\nhost: x\r\n", "http/1.1"],
  ["an HTTP/1.0 request line", "POST /a?b=c HTTP/1.0\r\n", "http/1.0"],
  ["a bare LF line end", "GET / HTTP/1.1\n", "http/1.1"],
  ["half a method", "GE", undefined],
  ["method and half a target", "GET /ind", undefined],
  ["half a version", "GET / HTTP/1", undefined],
  ["a version that cannot be 1.x", "GET / HTTP/2", "none"],
  ["a word that may still be a method waits", "PRX", undefined],
  ["a JSON body is not a request line", '{"a":1}', "none"],
  ["a control byte in the method", "\x16\x03\x01\x02", "none"],
  ["a TLS ClientHello", Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), "none"],
  ["a server-first protocol's client greeting (redis inline)", "PING\r\n", "none"],
  ["two spaces after the method", "GET  / HTTP/1.1\r\n", "none"],
  ["a complete line without a version", "GET /\r\n", "none"],
  ["a lower-case version", "GET / http/1.1\r\n", "none"],
];

for (const [name, input, want] of cases)
  test(`inspectProtocol: ${name} -> ${want ?? "undecided"}`, () =>
    assert.equal(inspectProtocol(typeof input === "string" ? Buffer.from(input, "latin1") : input), want));

test("inspectProtocol: a request line longer than the inspection limit is not HTTP (Envoy's bound)", () => {
  assert.equal(inspectProtocol(Buffer.from(`GET /${"a".repeat(MAX_INSPECT)}`)), "none");
});
