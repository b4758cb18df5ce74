import { test } from "node:test";
import assert from "node:assert/strict";
import { type Outcome, OutlierDetector } from "./outlier.js";
import type { OutlierDetection } from "../envoy/types.js";

const config = (o: Partial<OutlierDetection> = {}): OutlierDetection => ({
  consecutive5xx: 3,
  enforcingConsecutive5xx: 100,
  consecutiveGatewayFailure: 5,
  enforcingConsecutiveGatewayFailure: 0,
  splitExternalLocalOriginErrors: false,
  consecutiveLocalOriginFailure: 5,
  enforcingConsecutiveLocalOriginFailure: 100,
  intervalMs: 1_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 100,
  ...o,
});
const s = (status: number): Outcome => ({ kind: "status", status });

test("outlier: consecutive 5xx eject; a success in between resets the count", () => {
  const d = new OutlierDetector(config(), () => 0);
  assert.equal(d.report("a", s(500), 3, 0), undefined);
  assert.equal(d.report("a", s(200), 3, 0), undefined);
  assert.equal(d.report("a", s(503), 3, 0), undefined);
  assert.equal(d.report("a", s(500), 3, 0), undefined);
  assert.deepEqual(d.report("a", s(502), 3, 0), { host: "a", reason: "consecutive_5xx", durationMs: 30_000 });
  assert.equal(d.isEjected("a", 0), true);
  assert.equal(d.isEjected("b", 0), false);
});

test("outlier: 4xx are not errors; local-origin failures count as 5xx unless split", () => {
  const d = new OutlierDetector(config(), () => 0);
  for (let i = 0; i < 5; i++) d.report("a", s(404), 3, 0);
  assert.equal(d.isEjected("a", 0), false);
  for (let i = 0; i < 3; i++) d.report("a", { kind: "local", failure: "connect" }, 3, 0);
  assert.equal(d.isEjected("a", 0), true);
  const split = new OutlierDetector(config({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 2 }), () => 0);
  split.report("a", { kind: "local", failure: "reset" }, 3, 0);
  split.report("a", s(500), 3, 0);
  split.report("a", s(500), 3, 0);
  assert.equal(split.isEjected("a", 0), false, "two 5xx of three; an answer resets the local-origin count");
  assert.equal(split.report("a", { kind: "local", failure: "timeout" }, 3, 0), undefined);
  assert.equal(split.report("a", { kind: "local", failure: "timeout" }, 3, 0)?.reason, "consecutive_local_origin_failure");
});

test("outlier: gateway failures eject only when enforced (Istio sets enforcing 100 with consecutiveGatewayErrors)", () => {
  const off = new OutlierDetector(config({ consecutive5xx: 100, consecutiveGatewayFailure: 2 }), () => 0);
  off.report("a", s(503), 3, 0);
  off.report("a", s(503), 3, 0);
  assert.equal(off.isEjected("a", 0), false);
  const on = new OutlierDetector(
    config({ consecutive5xx: 100, consecutiveGatewayFailure: 2, enforcingConsecutiveGatewayFailure: 100 }),
    () => 0,
  );
  on.report("a", s(500), 3, 0);
  on.report("a", s(503), 3, 0);
  assert.equal(on.isEjected("a", 0), false, "500 is 5xx but not a gateway error");
  assert.equal(on.report("a", s(504), 3, 0)?.reason, "consecutive_gateway_failure");
});

test("outlier: an ejected host returns at the first interval tick after base_ejection_time x ejections", () => {
  const d = new OutlierDetector(config({ consecutive5xx: 1, baseEjectionTimeMs: 3_000, intervalMs: 1_000 }), () => 0);
  d.isEjected("a", 0); // first tick at 1000
  assert.equal(d.report("a", s(500), 2, 500)?.durationMs, 3_000);
  assert.equal(d.isEjected("a", 3_400), true, "ejected until 3500, ticks at 1000, 2000, 3000");
  assert.equal(d.isEjected("a", 3_999), true, "not back between ticks");
  assert.equal(d.isEjected("a", 4_000), false, "back at the 4000 tick");
  // Ejected again at once: twice as long.
  assert.equal(d.report("a", s(500), 2, 4_100)?.durationMs, 6_000);
  assert.equal(d.isEjected("a", 10_000), true);
  assert.equal(d.isEjected("a", 11_000), false);
});

test("outlier: the ejection count decays one per healthy interval; ejection time is capped", () => {
  const d = new OutlierDetector(config({ consecutive5xx: 1, baseEjectionTimeMs: 1_000, maxEjectionTimeMs: 2_500 }), () => 0);
  d.isEjected("a", 0);
  d.report("a", s(500), 2, 0); // 1 ejection, 1000 ms
  d.isEjected("a", 1_000); // back at 1000
  assert.equal(d.report("a", s(500), 2, 1_000)?.durationMs, 2_000);
  d.isEjected("a", 3_000);
  assert.equal(d.report("a", s(500), 2, 3_000)?.durationMs, 2_500, "3 x 1000 capped at max_ejection_time");
  d.isEjected("a", 6_000); // back at 6000 (5500 elapsed)
  assert.equal(d.isEjected("a", 9_000), false); // ticks 7000, 8000, 9000 decay 3 -> 0
  assert.equal(d.report("a", s(500), 2, 9_000)?.durationMs, 1_000, "back to one base time");
});

test("outlier: max_ejection_percent caps ejections, but one host can always be ejected", () => {
  const d = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 10 }), () => 0);
  assert.ok(d.report("a", s(500), 3, 0), "first ejection allowed although 1/3 > 10%");
  assert.equal(d.report("b", s(500), 3, 0), undefined, "second refused");
  const half = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 50 }), () => 0);
  assert.ok(half.report("a", s(500), 4, 0));
  assert.ok(half.report("b", s(500), 4, 0), "2/4 = 50% allowed");
  assert.equal(half.report("c", s(500), 4, 0), undefined, "3/4 refused");
});

test("outlier: enforcing percentages are drawn", () => {
  const d = new OutlierDetector(config({ consecutive5xx: 1, enforcingConsecutive5xx: 30 }), () => 0.5);
  assert.equal(d.report("a", s(500), 2, 0), undefined, "draw 50 >= 30: not enforced");
  const e = new OutlierDetector(config({ consecutive5xx: 1, enforcingConsecutive5xx: 30 }), () => 0.1);
  assert.ok(e.report("a", s(500), 2, 0));
});

test("outlier: dump shows each host's counts and ejection end; retain forgets hosts that left; update changes the threshold", () => {
  const d = new OutlierDetector(config({ consecutive5xx: 2 }), () => 0);
  d.report("a", s(500), 3, 0);
  d.report("a", s(500), 3, 0);
  d.report("b", s(503), 3, 0);
  assert.deepEqual(d.dump(0), {
    ejectionsTotal: 1,
    hosts: {
      a: { ejected: true, ejections: 1, ejectedUntil: new Date(30_000).toISOString(), consecutive5xx: 0, consecutiveGateway: 0 },
      b: { ejected: false, ejections: 0, consecutive5xx: 1, consecutiveGateway: 1 },
    },
  });
  assert.equal(d.ejectedCount(), 1);
  d.retain(new Set(["b"]));
  assert.deepEqual(Object.keys(d.dump(0).hosts), ["b"]);
  d.update(config({ consecutive5xx: 5 }));
  // b's count goes on from 1: three more make 4 (below the new threshold), a fifth ejects.
  for (let i = 0; i < 3; i++) d.report("b", s(500), 3, 0);
  assert.equal(d.isEjected("b", 0), false);
  assert.equal(d.report("b", s(500), 3, 0)?.reason, "consecutive_5xx");
});
