import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGreeting, parseRequest, Reply } from "./socks5.js";

const b = (...bytes: number[]) => Buffer.from(bytes);

test("socks5: greeting needs the no-auth method", () => {
  assert.deepEqual(parseGreeting(b(5)), { state: "more" });
  assert.deepEqual(parseGreeting(b(5, 2, 0)), { state: "more" });
  assert.deepEqual(parseGreeting(b(5, 2, 2, 0)), { state: "done", value: { methods: [2, 0] }, consumed: 4 });
  assert.match((parseGreeting(b(4, 1, 0)) as { reason: string }).reason, /unsupported version 4/);
  assert.match((parseGreeting(b(5, 1, 2)) as { reason: string }).reason, /no-authentication/);
  assert.match((parseGreeting(b(5, 0)) as { reason: string }).reason, /no methods/);
});

test("socks5: CONNECT requests for IPv4, IPv6 and domain targets", () => {
  const cases: Array<[string, Buffer, unknown]> = [
    ["ipv4", b(5, 1, 0, 1, 10, 0, 0, 1, 0x1f, 0x90), { kind: "ip", ip: "10.0.0.1", port: 8080 }],
    ["ipv6", b(5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80), { kind: "ip", ip: "fd00::1", port: 80 }],
    ["domain", Buffer.concat([b(5, 1, 0, 3, 4), Buffer.from("ECHO"), b(0, 80)]), { kind: "domain", host: "echo", port: 80 }],
  ];
  for (const [name, buf, want] of cases) {
    const r = parseRequest(buf);
    assert.equal(r.state, "done", name);
    if (r.state === "done") {
      assert.deepEqual(r.value, want, name);
      assert.equal(r.consumed, buf.length, name);
    }
    // every strict prefix asks for more bytes
    for (let i = 0; i < buf.length; i++) assert.equal(parseRequest(buf.subarray(0, i)).state, "more", `${name} prefix ${i}`);
  }
});

test("socks5: unsupported requests carry the right reply code", () => {
  const cases: Array<[Buffer, number, RegExp]> = [
    [b(5, 2, 0, 1, 1, 2, 3, 4, 0, 80), Reply.COMMAND_NOT_SUPPORTED, /only CONNECT/],
    [b(5, 1, 0, 9, 0, 0), Reply.ADDRESS_TYPE_NOT_SUPPORTED, /address type 9/],
    [b(5, 1, 0, 1, 1, 2, 3, 4, 0, 0), Reply.GENERAL_FAILURE, /port 0/],
    [Buffer.concat([b(5, 1, 0, 3, 3), Buffer.from("a b"), b(0, 80)]), Reply.HOST_UNREACHABLE, /invalid domain/],
  ];
  for (const [buf, reply, why] of cases) {
    const r = parseRequest(buf);
    assert.equal(r.state, "error");
    if (r.state === "error") {
      assert.equal(r.reply, reply);
      assert.match(r.reason, why);
    }
  }
});
