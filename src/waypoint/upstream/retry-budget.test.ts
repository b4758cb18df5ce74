import { test } from "node:test";
import assert from "node:assert/strict";
import { mayRetry, retryLimit } from "./retry-budget.js";

const budget = (budgetPercent: number, minRetryConcurrency: number, maxRetries = 3) => ({
  maxRetries,
  retryBudget: { budgetPercent, minRetryConcurrency },
});

test("retry limit: max_retries without a budget, Envoy's budget formula with one", () => {
  const cases: [string, Parameters<typeof retryLimit>[0], number, number][] = [
    ["no budget: max_retries, whatever the load", { maxRetries: 3 }, 1000, 3],
    ["no budget: Istio's unlimited max_retries", { maxRetries: 4294967295 }, 0, 4294967295],
    ["Envoy's doc: 20% of 25 active is 5", budget(20, 3), 25, 5],
    ["Envoy's doc: 2 active still allows the minimum 3", budget(20, 3), 2, 3],
    ["nothing in flight: the minimum", budget(20, 3), 0, 3],
    ["the product is truncated (20% of 24 = 4.8 -> 4)", budget(20, 3), 24, 4],
    ["25% of 100 = 25", budget(25, 3), 100, 25],
    ["max_retries is ignored when a budget is set", budget(20, 3, 1), 100, 20],
    ["100% of in flight", budget(100, 0), 7, 7],
    ["0% and minimum 0: no retry at all", budget(0, 0), 100, 0],
    ["a fractional percent (Istio's API is a double)", budget(0.5, 1), 1000, 5],
    ["a negative in-flight count (a guard) counts as 0", budget(50, 2), -4, 2],
  ];
  for (const [name, limits, inFlight, want] of cases) assert.equal(retryLimit(limits, inFlight), want, name);
});

test("may retry: only while the retries running are below the limit", () => {
  const cases: [string, Parameters<typeof mayRetry>[0], number, number, boolean][] = [
    ["below max_retries", { maxRetries: 3 }, 2, 0, true],
    ["at max_retries", { maxRetries: 3 }, 3, 0, false],
    ["budget: 4 running of 20% x 25 = 5", budget(20, 3), 4, 25, true],
    ["budget: 5 running of 5", budget(20, 3), 5, 25, false],
    ["budget: the load fell, 5 running of max(3, 2) = 3", budget(20, 3), 5, 10, false],
    ["budget: the floor allows 2 running of 3 on a quiet cluster", budget(20, 3), 2, 1, true],
    ["budget 0/0: never", budget(0, 0), 0, 100, false],
  ];
  for (const [name, limits, retries, inFlight, want] of cases) assert.equal(mayRetry(limits, { retries, inFlight }), want, name);
});
