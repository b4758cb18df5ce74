/** Table tests: the token bucket (start full, fill per interval up to the max) and enabled/enforced fractions. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { RateLimitPolicy } from "../envoy/types.js";
import { RateLimiters, TokenBucket } from "./rate-limit.js";

const policy = (extra: Partial<RateLimitPolicy> = {}): RateLimitPolicy => ({
  maxTokens: 3,
  tokensPerFill: 2,
  fillIntervalMs: 1000,
  enabled: 1,
  enforced: 1,
  status: 429,
  xRateLimitHeaders: true,
  ...extra,
});

void describe("TokenBucket", () => {
  void it("starts full, empties, refills per interval up to the maximum", () => {
    const b = new TokenBucket(policy(), 0);
    const at = (t: number) => b.take(t).ok;
    assert.deepEqual([at(0), at(10), at(20), at(30)], [true, true, true, false]);
    assert.deepEqual([at(999), at(1000), at(1001), at(1002)], [false, true, true, false], "2 tokens per fill");
    assert.deepEqual([at(10_000), at(10_000), at(10_000), at(10_000)], [true, true, true, false], "capped at max_tokens");
  });

  void it("reports remaining tokens and the time to the next fill", () => {
    const b = new TokenBucket(policy(), 0);
    assert.deepEqual(b.take(250), { ok: true, remaining: 2, resetMs: 750 });
  });
});

void describe("RateLimiters", () => {
  void it("limits with the configured status and x-ratelimit headers", () => {
    const r = new RateLimiters();
    const p = policy({ maxTokens: 1, status: 503 });
    assert.equal(r.decide(p, 0, () => 0).kind, "pass");
    assert.deepEqual(
      r.decide(p, 1, () => 0),
      {
        kind: "limit",
        status: 503,
        headers: { "x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1" },
      },
    );
  });

  void it("a new policy object starts a new bucket", () => {
    const r = new RateLimiters();
    const a = policy({ maxTokens: 1 });
    assert.equal(r.decide(a, 0, () => 0).kind, "pass");
    assert.equal(r.decide(a, 0, () => 0).kind, "limit");
    assert.equal(r.decide(policy({ maxTokens: 1 }), 0, () => 0).kind, "pass");
  });

  const cases: [string, Partial<RateLimitPolicy>, number, "pass" | "limit"][] = [
    ["not enabled (Envoy's default 0%): never counted", { enabled: 0 }, 0, "pass"],
    ["enabled but not enforced: counted, passed (shadow mode)", { enforced: 0 }, 0, "pass"],
    ["enforced for half: a draw below 0.5 is limited", { enforced: 0.5 }, 0.4, "limit"],
    ["enforced for half: a draw above is passed", { enforced: 0.5 }, 0.6, "pass"],
  ];
  for (const [name, extra, draw, want] of cases)
    void it(name, () => {
      const r = new RateLimiters();
      const p = policy({ maxTokens: 1, ...extra });
      r.decide(p, 0, () => draw);
      assert.equal(r.decide(p, 0, () => draw).kind, want);
    });
});
