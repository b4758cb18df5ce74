import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TokenBucket } from "./budget.js";

function takes(b: TokenBucket, n: number, at: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (b.take(at)) ok++;
  return ok;
}

void describe("TokenBucket", () => {
  const cases: [string, (b: TokenBucket) => number, number][] = [
    ["a full bucket gives its capacity at once", (b) => takes(b, 50, 0), 10],
    ["refills at the rate: 0.5 s at 4/s gives 2 more", (b) => takes(b, 10, 0) + takes(b, 10, 500), 12],
    ["never refills past the capacity", (b) => takes(b, 10, 0) + takes(b, 100, 3_600_000), 20],
    ["a clock going backwards refills nothing", (b) => takes(b, 10, 1000) + takes(b, 10, 0), 10],
  ];
  for (const [name, run, want] of cases) void it(name, () => assert.equal(run(new TokenBucket(10, 4, 0)), want));
});
