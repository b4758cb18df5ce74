import { test } from "node:test";
import assert from "node:assert/strict";
import { cidrContains, formatCidr, formatIp, ipFromBytes, ipToBytes, parseCidr, parseIp, unmapV4 } from "./ip.js";

void test("parseIp accepts literal addresses and formats them canonically", () => {
  const cases: [string, string][] = [
    ["10.0.0.1", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["::", "::"],
    ["::1", "::1"],
    ["fd00::1", "fd00::1"],
    ["FD00:0:0:0:0:0:0:1", "fd00::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
    ["1::", "1::"],
  ];
  for (const [input, want] of cases) {
    const ip = parseIp(input);
    assert.ok(ip, `${input} should parse`);
    assert.equal(formatIp(ip), want, input);
  }
});

void test("parseIp rejects malformed addresses", () => {
  for (const bad of [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.-1",
    "a.b.c.d",
    ":::",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "fe80::1%eth0",
    "12345::",
    "::g",
    "1:2:3:4:5:6:7",
    "localhost",
    " 1.2.3.4",
  ]) {
    assert.equal(parseIp(bad), undefined, JSON.stringify(bad));
  }
});

void test("unmapV4 folds IPv4-mapped IPv6 only", () => {
  assert.equal(formatIp(unmapV4(parseIp("::ffff:10.1.2.3")!)), "10.1.2.3");
  assert.equal(formatIp(unmapV4(parseIp("::1")!)), "::1");
  assert.equal(formatIp(unmapV4(parseIp("10.1.2.3")!)), "10.1.2.3");
});

void test("parseCidr masks host bits and reports them", () => {
  const cases: [string, string, boolean][] = [
    ["10.0.0.0/8", "10.0.0.0/8", false],
    ["10.1.2.3/8", "10.0.0.0/8", true],
    ["10.1.2.3", "10.1.2.3/32", false],
    ["0.0.0.0/0", "0.0.0.0/0", false],
    ["fd00::1/64", "fd00::/64", true],
    ["fd00::/8", "fd00::/8", false],
    ["2001:db8::1", "2001:db8::1/128", false],
    ["::/0", "::/0", false],
  ];
  for (const [input, want, hostBits] of cases) {
    const r = parseCidr(input);
    assert.ok(r.ok, input);
    assert.equal(formatCidr(r.value), want, input);
    assert.equal(r.value.hostBitsSet, hostBits, input);
  }
});

void test("parseCidr rejects malformed blocks with a reason", () => {
  for (const bad of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "::/129", "10.0.0/8", "x/8", "10.0.0.0/8/8"]) {
    const r = parseCidr(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.error.message, /not (a valid CIDR|an IP address)/, bad);
  }
});

void test("cidrContains compares prefixes of both families", () => {
  const cases: [string, string, boolean][] = [
    ["10.0.0.0/8", "10.255.1.1", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["10.1.2.3/32", "10.1.2.3", true],
    ["10.1.2.3/32", "10.1.2.4", false],
    ["0.0.0.0/0", "192.168.1.1", true],
    ["192.168.0.0/23", "192.168.1.200", true],
    ["192.168.0.0/23", "192.168.2.1", false],
    ["fd00::/8", "fd12:3456::1", true],
    ["fd00::/8", "fe80::1", false],
    ["2001:db8::/33", "2001:db8:7fff::1", true],
    ["2001:db8::/33", "2001:db8:8000::1", false],
    ["2001:db8::1/128", "2001:db8::1", true],
    ["2001:db8::1/128", "2001:db8::2", false],
    ["::/0", "::1", true],
    ["0.0.0.0/0", "::1", false],
    ["::/0", "1.2.3.4", false],
  ];
  for (const [cidr, ip, want] of cases) {
    const c = parseCidr(cidr);
    assert.ok(c.ok);
    assert.equal(cidrContains(c.value, parseIp(ip)!), want, `${ip} in ${cidr}`);
  }
});

void test("ipToBytes and ipFromBytes round-trip", () => {
  for (const text of ["10.0.0.1", "255.0.128.7", "fd00::1", "2001:db8::ffff:1"]) {
    const ip = parseIp(text)!;
    const bytes = ipToBytes(ip);
    assert.equal(bytes.length, ip.family === 4 ? 4 : 16);
    assert.equal(formatIp(ipFromBytes(bytes)!), formatIp(ip));
  }
  assert.equal(ipFromBytes(new Uint8Array(5)), undefined);
});
