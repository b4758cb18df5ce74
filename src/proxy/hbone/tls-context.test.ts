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
    assert.equal(r.error.message, "hbone: server presented no certificate");
  });
  // The refusal is the reason in the source ztunnel's log line: it names the identity presented
  // and every identity that was expected (or that none was).
  test("a refusal names the server identity and the expected set, or says the set is empty", () => {
    const other = peer("URI:spiffe://cluster.local/ns/default/sa/other");
    const two = acceptServer(other, { expected: [server, waypoint] });
    assert.ok(!two.ok);
    assert.equal(
      two.error.message,
      "hbone: server identity spiffe://cluster.local/ns/default/sa/other is not among the expected identities " +
        "spiffe://cluster.local/ns/default/sa/server, spiffe://cluster.local/ns/default/sa/waypoint",
    );
    const none = acceptServer(other, { expected: [] });
    assert.ok(!none.ok);
    assert.match(none.error.message, /not among the expected identities \(none\)$/);
    const noSan = acceptServer(peer("DNS:x"), { expected: [server] });
    assert.ok(!noSan.ok);
    assert.match(noSan.error.message, /^hbone: server certificate: /);
    assert.ok(noSan.error.cause instanceof Error, "the SAN error is chained as the cause");
  });
});

describe("acceptClient", () => {
  test("accepts a client from an accepted trust domain and returns its identity", () => {
    const r = acceptClient(peer("URI:spiffe://cluster.local/ns/a/sa/b"), { trustDomains: ["cluster.local"] });
    assert.ok(r.ok);
    assert.deepEqual(r.value, identity("cluster.local", "a", "b"));
  });
  test("refuses another trust domain, naming the client and every accepted trust domain", () => {
    const r = acceptClient(peer("URI:spiffe://other.local/ns/a/sa/b"), { trustDomains: ["cluster.local", "federated.local"] });
    assert.ok(!r.ok);
    assert.equal(r.error.code, "HBONE_IDENTITY");
    assert.equal(
      r.error.message,
      'hbone: client spiffe://other.local/ns/a/sa/b: trust domain "other.local" is not accepted (want cluster.local or federated.local)',
    );
  });
  test("accepts a federated trust domain it lists", () => {
    const r = acceptClient(peer("URI:spiffe://federated.local/ns/a/sa/b"), { trustDomains: ["cluster.local", "federated.local"] });
    assert.ok(r.ok && r.value.trustDomain === "federated.local");
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
      assert.ok(r.error.cause instanceof Error, "the SAN error is chained as the cause");
    });
  }
  test("refuses a client without a certificate", () => {
    const r = acceptClient(undefined, { trustDomains: ["cluster.local"] });
    assert.ok(!r.ok && r.error.code === "HBONE_TLS");
    assert.equal(r.error.message, "hbone: client presented no certificate");
  });
});

test("identitySetKey is order- and duplicate-insensitive, and lists each identity (pool keys and logs)", () => {
  assert.equal(identitySetKey([server, waypoint, server]), identitySetKey([waypoint, server]));
  assert.notEqual(identitySetKey([server]), identitySetKey([waypoint]));
  assert.equal(
    identitySetKey([waypoint, server]),
    "spiffe://cluster.local/ns/default/sa/server,spiffe://cluster.local/ns/default/sa/waypoint",
  );
});
