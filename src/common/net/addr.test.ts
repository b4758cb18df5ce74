import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalIp, formatAddress, parseAddress } from "./addr.js";

test("addr: canonical IPs fold IPv4-mapped IPv6 and reject non-IPs", () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ["10.0.0.1", "10.0.0.1"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["FD00::1", "fd00::1"],
    ["example.com", undefined],
    ["", undefined],
    [undefined, undefined],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, String(input));
});

test("addr: parses and formats authorities", () => {
  const good: Array<[string, string, number]> = [
    ["10.0.0.1:8080", "10.0.0.1", 8080],
    ["[fd00::1]:80", "fd00::1", 80],
    ["[::ffff:1.2.3.4]:1", "1.2.3.4", 1],
  ];
  for (const [text, ip, port] of good) {
    const r = parseAddress(text);
    assert.ok(r.ok, text);
    assert.deepEqual(r.value, { ip, port });
  }
  assert.equal(formatAddress({ ip: "fd00::1", port: 80 }), "[fd00::1]:80");
  assert.equal(formatAddress({ ip: "10.0.0.1", port: 80 }), "10.0.0.1:80");
});

test("addr: rejects malformed authorities with the reason", () => {
  const bad: Array<[string, RegExp]> = [
    ["10.0.0.1", /missing port/],
    ["10.0.0.1:0", /out of range/],
    ["10.0.0.1:70000", /out of range/],
    ["10.0.0.1:http", /invalid port/],
    ["host:80", /not an IP/],
    ["fd00::1:80", /must be bracketed/],
    ["[fd00::1:80", /expected \[ipv6\]:port/],
    ["", /missing port/],
  ];
  for (const [text, why] of bad) {
    const r = parseAddress(text);
    assert.ok(!r.ok, text);
    assert.match(r.error.message, why, text);
  }
});
