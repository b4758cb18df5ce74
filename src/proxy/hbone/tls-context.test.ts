import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { PeerCertificate } from "node:tls";
import { identity } from "../../common/spiffe.js";
import { acceptClient, acceptServer, identitySetKey } from "./tls-context.js";

/** The part of a tls.PeerCertificate the checks read (a connected socket fills in the rest). */
function peer(subjectaltname: string | undefined): PeerCertificate {
  return { subject: { CN: "x" }, subjectaltname } as unknown as PeerCertificate;
}

const server = identity("cluster.local", "default", "server");
const waypoint = identity("cluster.local", "default", "waypoint");

describe("acceptServer", () => {
  const cases: { name: string; san: string | undefined; code?: string }[] = [
    { name: "accepts the expected workload identity", san: "URI:spiffe://cluster.local/ns/default/sa/server" },
    { name: "accepts any identity of the expected set", san: "URI:spiffe://cluster.local/ns/default/sa/waypoint" },
    { name: "refuses an identity outside the set", san: "URI:spiffe://cluster.local/ns/default/sa/other", code: "HBONE_IDENTITY" },
    { name: "refuses the same name in another trust domain", san: "URI:spiffe://evil.local/ns/default/sa/server", code: "HBONE_IDENTITY" },
    {
      name: "refuses a certificate with two URI SANs",
      san: "URI:spiffe://cluster.local/ns/default/sa/server, URI:spiffe://cluster.local/ns/default/sa/x",
      code: "HBONE_IDENTITY",
    },
    { name: "refuses a certificate with only a DNS SAN", san: "DNS:server.default.svc", code: "HBONE_IDENTITY" },
    { name: "refuses a certificate without SANs", san: undefined, code: "HBONE_IDENTITY" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = acceptServer(peer(c.san), { expected: [server, waypoint] });
      if (!c.code) assert.ok(r.ok, r.ok ? "" : r.error.message);
      else assert.ok(!r.ok && r.error.code === c.code);
    });
  }
  test("refuses a server that presented no certificate", () => {
    const r = acceptServer({} as PeerCertificate, { expected: [server] });
    assert.ok(!r.ok && r.error.code === "HBONE_TLS");
  });
});

describe("acceptClient", () => {
  test("accepts a client from an accepted trust domain and returns its identity", () => {
    const r = acceptClient(peer("URI:spiffe://cluster.local/ns/a/sa/b"), { trustDomains: ["cluster.local"] });
    assert.ok(r.ok);
    assert.deepEqual(r.value, identity("cluster.local", "a", "b"));
  });
  test("refuses another trust domain, naming both", () => {
    const r = acceptClient(peer("URI:spiffe://other.local/ns/a/sa/b"), { trustDomains: ["cluster.local"] });
    assert.ok(!r.ok);
    assert.match(r.error.message, /trust domain "other.local" is not accepted \(want cluster.local\)/);
  });
  // Found by the mutation run: without these a client certificate lacking a usable SPIFFE SAN
  // was never checked on the server side.
  for (const [what, san] of [
    ["no SANs", undefined],
    ["only a DNS SAN", "DNS:client.default.svc"],
    ["two URI SANs", "URI:spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/a/sa/c"],
    ["a URI SAN that is not SPIFFE", "URI:https://cluster.local/ns/a/sa/b"],
  ] as const) {
    test(`refuses a client certificate with ${what}`, () => {
      const r = acceptClient(peer(san), { trustDomains: ["cluster.local"] });
      assert.ok(!r.ok && r.error.code === "HBONE_IDENTITY", r.ok ? "accepted" : r.error.message);
      assert.match(r.error.message, /^hbone: client certificate: /);
    });
  }
  test("refuses a client without a certificate", () => {
    const r = acceptClient(undefined, { trustDomains: ["cluster.local"] });
    assert.ok(!r.ok && r.error.code === "HBONE_TLS");
  });
});

test("identitySetKey is order- and duplicate-insensitive", () => {
  assert.equal(identitySetKey([server, waypoint, server]), identitySetKey([waypoint, server]));
  assert.notEqual(identitySetKey([server]), identitySetKey([waypoint]));
});
