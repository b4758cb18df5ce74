import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterBalancer } from "./balancer.js";
import { DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE } from "../envoy/decode-cluster-policy.js";
import type { LbPolicy, LbSettings } from "../envoy/types.js";
import { ep, seeded, sequence } from "./testing.js";

const settings = (o: Partial<LbSettings> = {}): LbSettings => ({
  choiceCount: 2,
  activeRequestBias: 1,
  minRingSize: DEFAULT_MIN_RING_SIZE,
  maxRingSize: DEFAULT_MAX_RING_SIZE,
  maglevTableSize: DEFAULT_MAGLEV_TABLE_SIZE,
  panicThresholdPercent: 50,
  localityWeighted: false,
  ...o,
});
const lb = (p: LbPolicy, o: Partial<LbSettings> = {}) => new ClusterBalancer(p, settings(o));
const ctx = (random = () => 0, hash?: number) => ({ random, now: 0, ...(hash !== undefined ? { hash } : {}) });

test("balancer: round robin rotates; weights are smooth (2:1 is a, b, a, not a, a, b)", () => {
  const rr = lb("ROUND_ROBIN");
  const hosts = [ep("a"), ep("b"), ep("c")];
  assert.deepEqual(
    [1, 2, 3, 4].map(() => rr.pick(hosts, ctx()).ip),
    ["a", "b", "c", "a"],
  );
  const w = lb("ROUND_ROBIN");
  const weighted = [ep("a", { weight: 2 }), ep("b")];
  assert.deepEqual(
    Array.from({ length: 6 }, () => w.pick(weighted, ctx()).ip),
    ["a", "b", "a", "a", "b", "a"],
  );
});

test("balancer: least request picks the less loaded of two random choices", () => {
  const l = lb("LEAST_REQUEST");
  const hosts = [ep("a"), ep("b"), ep("c")];
  l.started(hosts[0]!);
  l.started(hosts[0]!);
  // Draws 0 -> a, 0.5 -> b: b has fewer active requests.
  assert.equal(l.pick(hosts, ctx(sequence(0, 0.5))).ip, "b");
  // Both draws land on a: a it is (power of two choices, not a full scan).
  assert.equal(l.pick(hosts, ctx(sequence(0, 0))).ip, "a");
  l.finished(hosts[0]!);
  l.finished(hosts[0]!);
  assert.equal(l.activeRequests(hosts[0]!), 0);
  // Ties keep the first draw.
  assert.equal(l.pick(hosts, ctx(sequence(0.9, 0))).ip, "c");
});

test("balancer: least request with unequal weights divides weight by (active + 1)^bias", () => {
  const l = lb("LEAST_REQUEST");
  const hosts = [ep("a", { weight: 2 }), ep("b", { weight: 1 })];
  for (let i = 0; i < 3; i++) l.started(hosts[0]!); // a: 2 / 4 = 0.5 < b: 1
  const picks = Array.from({ length: 4 }, () => l.pick(hosts, ctx()).ip);
  assert.deepEqual(picks.filter((p) => p === "b").length > picks.filter((p) => p === "a").length, true, picks.join());
});

test("balancer: random follows the draw over weights", () => {
  const r = lb("RANDOM");
  const hosts = [ep("a", { weight: 3 }), ep("b", { weight: 1 })];
  assert.equal(
    r.pick(
      hosts,
      ctx(() => 0.74),
    ).ip,
    "a",
  );
  assert.equal(
    r.pick(
      hosts,
      ctx(() => 0.76),
    ).ip,
    "b",
  );
});

for (const policy of ["RING_HASH", "MAGLEV"] as const) {
  test(`balancer: ${policy} keeps a hash on one host, spreads keys, and moves about 1/N when a host is added`, () => {
    const b = lb(policy);
    const three = [ep("10.0.0.1"), ep("10.0.0.2"), ep("10.0.0.3")];
    const four = [...three, ep("10.0.0.4")];
    const rnd = seeded(7);
    const keys = Array.from({ length: 3000 }, () => Math.floor(rnd() * 2 ** 32));
    const before = keys.map(
      (k) =>
        b.pick(
          three,
          ctx(() => 0, k),
        ).ip,
    );
    assert.deepEqual(
      keys.map(
        (k) =>
          b.pick(
            three,
            ctx(() => 0.99, k),
          ).ip,
      ),
      before,
      "the same hash always lands on the same host (randomness unused)",
    );
    const counts = new Map<string, number>();
    for (const h of before) counts.set(h, (counts.get(h) ?? 0) + 1);
    for (const [h, n] of counts) assert.ok(n > 700 && n < 1300, `${h} got ${n} of 3000`);
    const after = keys.map(
      (k) =>
        b.pick(
          four,
          ctx(() => 0, k),
        ).ip,
    );
    const moved = after.filter((h, i) => h !== before[i]).length / keys.length;
    assert.ok(moved > 0.15 && moved < 0.4, `moved ${moved} (ideal 0.25)`);
    // Most moved keys go to the new host; some move between old ones (Envoy's too: with the
    // default 1024-entry ring each host's share of entries shrinks from 1/3 to 1/4).
    const toNew = after.filter((h, i) => h !== before[i] && h === "10.0.0.4").length / keys.length;
    assert.ok(toNew / moved >= 0.6, `${toNew} of ${moved} moved to the new host`);
  });
}

test("balancer: a hash-based cluster without a request hash picks at random", () => {
  const b = lb("RING_HASH");
  const hosts = [ep("a"), ep("b")];
  assert.equal(
    b.pick(
      hosts,
      ctx(() => 0),
    ).ip,
    "a",
  );
  assert.equal(
    b.pick(
      hosts,
      ctx(() => 0.9),
    ).ip,
    "b",
  );
});

test("balancer: slow start scales a new host's weight up over the window (hosts of the first update are not new)", () => {
  const b = lb("ROUND_ROBIN", { slowStart: { windowMs: 10_000, aggression: 1, minWeightPercent: 10 } });
  const old = ep("old");
  const fresh = ep("new");
  b.observe([old], 0);
  b.observe([old, fresh], 1_000);
  assert.equal(b.weight(old, 2_000), 1);
  assert.equal(b.weight(fresh, 1_000 + 500), 0.1, "min_weight_percent floor");
  assert.equal(b.weight(fresh, 1_000 + 5_000), 0.5, "linear with aggression 1");
  assert.equal(b.weight(fresh, 1_000 + 10_000), 1, "full weight after the window");
  const agg = lb("ROUND_ROBIN", { slowStart: { windowMs: 10_000, aggression: 2, minWeightPercent: 0 } });
  agg.observe([old], 0);
  agg.observe([old, fresh], 0);
  assert.equal(agg.weight(fresh, 2_500), 0.5, "(1/4)^(1/2)");
});
