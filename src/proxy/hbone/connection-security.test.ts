import { test } from "node:test";
import assert from "node:assert/strict";
import { identity } from "../../common/spiffe.js";
import { type ConnectionSecurity, isMutualTls } from "./connection-security.js";

const peer = identity("cluster.local", "default", "sleep");

test("a connection is mutual TLS (connection_security_policy) only for TLS 1.3 with a verified peer identity", () => {
  const cases: Array<[string, ConnectionSecurity | undefined, boolean]> = [
    ["TLS 1.3, peer verified", { protocol: "TLSv1.3", peerIdentity: peer }, true],
    ["TLS 1.3, peer not verified", { protocol: "TLSv1.3" }, false],
    ["TLS 1.2, peer verified", { protocol: "TLSv1.2", peerIdentity: peer }, false],
    ["not encrypted", { protocol: "none" }, false],
    ["no record (plaintext, passthrough)", undefined, false],
  ];
  for (const [what, s, want] of cases) assert.equal(isMutualTls(s), want, what);
});
