import { test } from "node:test";
import assert from "node:assert/strict";
import type { DnsDiscovery, DnsTarget } from "../envoy/types.js";
import { type DnsAnswer, dnsEndpoints, lookupPlan, nextRefreshMs, sameEndpoints } from "./dns-endpoints.js";
import { lookupName } from "./dns-clusters.js";

const target = (hostname: string, port = 80, weight = 1): DnsTarget => ({
  hostname,
  port,
  weight,
  healthy: true,
  priority: 0,
  locality: "",
  localityWeight: 0,
});

const dns = (over: Partial<DnsDiscovery> = {}): DnsDiscovery => ({
  mode: "strict",
  targets: [target("a.example.test"), target("b.example.test", 8080, 3)],
  family: "V4_ONLY",
  refreshMs: 60_000,
  respectTtl: true,
  minRefreshMs: 5_000,
  ...over,
});

const answers = (m: Record<string, string[]>) => new Map(Object.entries(m).map(([k, v]) => [k, { addresses: v, ttlSeconds: 30 }]));

test("dnsEndpoints: STRICT_DNS makes every address of every target a host with the target's port and weight", () => {
  const got = dnsEndpoints("c", dns(), answers({ "a.example.test": ["192.0.2.1", "192.0.2.2"], "b.example.test": ["192.0.2.3"] }));
  assert.deepEqual(
    got.endpoints.map((e) => [e.ip, e.port, e.weight]),
    [
      ["192.0.2.1", 80, 1],
      ["192.0.2.2", 80, 1],
      ["192.0.2.3", 8080, 3],
    ],
  );
  assert.equal(got.clusterName, "c");
});

test("dnsEndpoints: LOGICAL_DNS is the first address of the first target; unresolved targets give no host", () => {
  const logical = dns({ mode: "logical", targets: [target("a.example.test")] });
  assert.deepEqual(
    dnsEndpoints("c", logical, answers({ "a.example.test": ["192.0.2.1", "192.0.2.2"] })).endpoints.map((e) => e.ip),
    ["192.0.2.1"],
  );
  assert.deepEqual(dnsEndpoints("c", dns(), new Map()).endpoints, []);
  assert.deepEqual(
    dnsEndpoints("c", dns(), answers({ "b.example.test": ["192.0.2.3"] })).endpoints.map((e) => e.ip),
    ["192.0.2.3"],
  );
});

test("lookupPlan: Envoy's DnsLookupFamily", () => {
  const cases: [DnsDiscovery["family"], (4 | 6)[], boolean][] = [
    ["V4_ONLY", [4], false],
    ["V6_ONLY", [6], false],
    ["AUTO", [6, 4], true],
    ["V4_PREFERRED", [4, 6], true],
    ["ALL", [4, 6], false],
  ];
  for (const [f, families, fallback] of cases) assert.deepEqual(lookupPlan(f), { families, fallback }, f);
});

test("nextRefreshMs: the TTL when respected (not below the minimum), else the refresh rate; failures retry at the rate", () => {
  const cases: [Partial<DnsDiscovery>, DnsAnswer | undefined, number][] = [
    [{}, { addresses: ["192.0.2.1"], ttlSeconds: 30 }, 30_000],
    [{}, { addresses: ["192.0.2.1"], ttlSeconds: 1 }, 5_000],
    [{ respectTtl: false }, { addresses: ["192.0.2.1"], ttlSeconds: 30 }, 60_000],
    [{}, { addresses: ["192.0.2.1"] }, 60_000],
    [{}, undefined, 60_000],
  ];
  for (const [over, a, want] of cases) assert.equal(nextRefreshMs(dns(over), a), want, JSON.stringify([over, a]));
});

test("sameEndpoints: same hosts in the same order", () => {
  const a = dnsEndpoints("c", dns(), answers({ "a.example.test": ["192.0.2.1"] }));
  assert.ok(sameEndpoints(a, dnsEndpoints("c", dns(), answers({ "a.example.test": ["192.0.2.1"] }))));
  assert.ok(!sameEndpoints(a, dnsEndpoints("c", dns(), answers({ "a.example.test": ["192.0.2.2"] }))));
  assert.ok(!sameEndpoints(undefined, a));
});

test("lookupName: IP literals need no lookup; AUTO falls back to IPv4; ALL joins both; errors when nothing resolves", async () => {
  const asked: string[] = [];
  // A fake resolver (records per family), to exercise the family rule without a DNS server.
  const fake =
    (v4: string[], v6: string[]) =>
    async (name: string, f: 4 | 6): Promise<DnsAnswer> => {
      asked.push(`${name}/${f}`);
      const a = f === 4 ? v4 : v6;
      if (!a.length) throw new Error(`ENODATA ${name}`);
      return { addresses: a, ttlSeconds: f === 4 ? 30 : 10 };
    };
  assert.deepEqual(await lookupName(fake([], []), "192.0.2.7", dns()), { addresses: ["192.0.2.7"] });
  assert.deepEqual(asked, []);
  assert.deepEqual(await lookupName(fake(["192.0.2.1"], []), "x.test.", dns({ family: "AUTO" })), {
    addresses: ["192.0.2.1"],
    ttlSeconds: 30,
  });
  assert.deepEqual(asked, ["x.test/6", "x.test/4"]);
  assert.deepEqual(await lookupName(fake(["192.0.2.1"], ["2001:db8::1"]), "x.test", dns({ family: "ALL" })), {
    addresses: ["192.0.2.1", "2001:db8::1"],
    ttlSeconds: 10,
  });
  await assert.rejects(lookupName(fake([], []), "x.test", dns()), /ENODATA x.test/);
});
