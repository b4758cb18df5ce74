import { test } from "node:test";
import assert from "node:assert/strict";
import { checkConnect } from "./connect-check.js";

const ILLEGAL = new Set([15001, 15006]);

test("checkConnect: what the server answers 400 itself, and what reaches the handler", () => {
  const cases: Array<[string, string, string, number | "ok", boolean?]> = [
    ["CONNECT to an app port", "CONNECT", "10.0.0.1:8080", "ok"],
    ["IPv6 bracketed", "CONNECT", "[fd00::1]:80", "ok"],
    ["GET", "GET", "10.0.0.1:8080", 400],
    ["hostname authority", "CONNECT", "example.com:80", 400],
    ["no port", "CONNECT", "10.0.0.1", 400],
    ["empty authority", "CONNECT", "", 400],
    ["own HBONE port", "CONNECT", "10.0.0.1:15008", 400, true],
    ["illegal listener port", "CONNECT", "10.0.0.1:15001", 400, true],
  ];
  for (const [name, method, authority, want, selfCall] of cases) {
    const r = checkConnect(method, authority, 15008, ILLEGAL);
    if (want === "ok") assert.ok(r.ok, name);
    else {
      assert.ok(!r.ok, name);
      assert.equal(r.status, want, name);
      assert.equal(r.selfCall, selfCall ?? false, name);
    }
  }
});
