import { test } from "node:test";
import assert from "node:assert/strict";
import { cookieValue, formatSetCookie, hash32, requestHash } from "./hash.js";
import { request } from "../route/testing.js";
import type { HashPolicy } from "../envoy/types.js";

const none = () => "generated";

test("hash: a header, a query parameter, the source IP and a cookie each give a stable hash", () => {
  const cases: [string, HashPolicy, Parameters<typeof request>[0], string | undefined][] = [
    ["header", { kind: "header", name: "x-user", terminal: false }, { headers: { "x-user": "jason" } }, "jason"],
    ["query", { kind: "query_parameter", name: "u", terminal: false }, { path: "/p?u=a%20b&u=c" }, "a b"],
    ["source ip", { kind: "source_ip", terminal: false }, {}, "10.1.2.3"],
    ["cookie", { kind: "cookie", name: "session", terminal: false }, { headers: { cookie: "a=1; session=xyz" } }, "xyz"],
    ["missing header", { kind: "header", name: "x-user", terminal: false }, {}, undefined],
    ["missing cookie without ttl", { kind: "cookie", name: "s", terminal: false }, {}, undefined],
  ];
  for (const [name, p, r, value] of cases) {
    const h = requestHash([p], request(r), "10.1.2.3", none);
    assert.equal(h.hash, value === undefined ? undefined : hash32(value), name);
    assert.equal(h.setCookie, undefined, name);
  }
});

test("hash: policies combine (rotate, xor) and terminal stops the walk", () => {
  const a: HashPolicy = { kind: "header", name: "a", terminal: false };
  const b: HashPolicy = { kind: "header", name: "b", terminal: false };
  const req = request({ headers: { a: "1", b: "2" } });
  const ha = hash32("1");
  assert.equal(requestHash([a, b], req, undefined, none).hash, (((ha << 1) | (ha >>> 31)) ^ hash32("2")) >>> 0);
  assert.equal(requestHash([{ ...a, terminal: true }, b], req, undefined, none).hash, ha);
  assert.equal(
    requestHash([{ kind: "header", name: "zz", terminal: true }, b], req, undefined, none).hash,
    hash32("2"),
    "a terminal policy without a value does not stop",
  );
});

test("hash: a cookie policy with a ttl generates the missing cookie and hashes it", () => {
  const p: HashPolicy = { kind: "cookie", name: "user", ttlMs: 10_000, path: "/", terminal: false };
  const h = requestHash([p], request(), undefined, () => "abc");
  assert.equal(h.hash, hash32("abc"));
  assert.equal(h.setCookie, 'user="abc"; Max-Age=10; Path=/; HttpOnly');
  assert.equal(requestHash([p], request({ headers: { cookie: "user=abc" } }), undefined, () => "other").setCookie, undefined);
  assert.equal(formatSetCookie("s", "v", 0), 's="v"; HttpOnly', "ttl 0: a session cookie");
  assert.equal(cookieValue(request({ headers: { cookie: 'user="abc"' } }), "user"), "abc", "quotes removed, as Envoy");
});

test("hash: hash32 is deterministic and spreads similar keys", () => {
  assert.equal(hash32("a"), hash32("a"));
  assert.notEqual(hash32("a"), hash32("a", 1));
  const buckets = new Array(8).fill(0);
  for (let i = 0; i < 8000; i++) buckets[hash32(`10.0.0.1:80_${i}`) % 8]++;
  for (const n of buckets) assert.ok(n > 850 && n < 1150, `bucket ${n}`);
});
