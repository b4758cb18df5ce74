import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_REFRESH_POLICY as P, renewalDelayMs, retryDelayMs } from "./refresh.js";

const t0 = Date.UTC(2026, 0, 1);
const at = (s: number) => new Date(t0 + s * 1000);

void describe("renewalDelayMs", () => {
  const cases: [string, Date, Date, number, number, number][] = [
    ["renews at half of a 24h lifetime without jitter", at(0), at(86400), t0, 0, 43_200_000],
    ["full jitter pulls the renewal 5 % of the lifetime earlier", at(0), at(86400), t0, 1, 0.45 * 86_400_000],
    ["counts from notBefore (received then), not from now", at(0), at(100), t0 + 20_000, 0, 30_000],
    ["never sooner than the minimum delay once past half-life", at(0), at(100), t0 + 90_000, 0, P.minDelayMs],
    ["a zero lifetime still waits the minimum", at(0), at(0), t0, 0, P.minDelayMs],
    // Issue 14: a 60 s TTL backdated 60 s used to renew every minDelayMs forever.
    ["a backdated notBefore does not count as lifetime (60 s TTL, 60 s backdate)", at(-60), at(60), t0, 0, 30_000],
    ["backdated, full jitter: 45 % of the real lifetime", at(-60), at(60), t0, 1, 27_000],
    ["a notBefore in the future (clock ahead) counts from notBefore", at(10), at(110), t0, 0, 60_000],
  ];
  for (const [name, nb, na, now, rnd, want] of cases) void it(name, () => assert.equal(renewalDelayMs(nb, na, now, P, rnd, t0), want));

  void it("counts from when the certificate arrived, not from a later now", () => {
    // received at t0 with 60 s of backdating; asked again 10 s later: 20 s left of the 30 s.
    assert.equal(renewalDelayMs(at(-60), at(60), t0 + 10_000, P, 0, t0), 20_000);
  });

  void it("over many random draws never renews before 45 % nor after 50 % of the real lifetime", () => {
    for (let i = 0; i < 1000; i++) {
      const d = renewalDelayMs(at(-60), at(60), t0, P, Math.random());
      assert.ok(d >= 27_000 && d <= 30_000, `delay ${d}`);
    }
  });
});

void describe("retryDelayMs", () => {
  const cases: [string, number, number, number | undefined, number][] = [
    ["first failure waits the initial interval (mid jitter)", 1, 0.5, undefined, 1000],
    ["doubles per failure", 3, 0.5, undefined, 4000],
    ["jitter spans -20 %", 2, 0, undefined, 1600],
    ["jitter spans +20 %", 2, 1, undefined, 2400],
    ["caps at 150 s", 20, 1, undefined, 150_000],
    ["retries no later than the current certificate's expiry", 5, 0.5, t0 + 3000, 3000],
    ["an expiry in the past still waits the minimum", 5, 0.5, t0 - 1000, P.minDelayMs],
  ];
  for (const [name, failures, rnd, until, want] of cases) {
    void it(name, () => assert.equal(Math.round(retryDelayMs(failures, P, rnd, until, t0)), want));
  }
});
