import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalIp, formatAddress, parseAddress, sameFamily, wildcardFor } from "./addr.js";

test("addr: canonical IPs fold IPv4-mapped IPv6 and reject non-IPs", () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ["10.0.0.1", "10.0.0.1"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["FD00::1", "fd00::1"],
    ["fd00:0:0:0:0:0:0:1", "fd00::1"],
    ["fd00:0000::0001", "fd00::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::ffff:a00:1", "10.0.0.1"],
    ["fe80::1%eth0", undefined],
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
    ["[FD00:0:0::A]:15008", "fd00::a", 15008],
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

test("addr: families and their wildcard source addresses", () => {
  assert.equal(sameFamily("10.0.0.1", "10.0.0.2"), true);
  assert.equal(sameFamily("fd00::1", "fd00::2"), true);
  assert.equal(sameFamily("10.0.0.1", "fd00::2"), false);
  assert.equal(sameFamily("fd00::1", "10.0.0.2"), false);
  assert.equal(wildcardFor("10.0.0.1"), "0.0.0.0");
  assert.equal(wildcardFor("fd00::1"), "::");
});
