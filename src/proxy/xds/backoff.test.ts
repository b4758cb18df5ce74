import { it } from "node:test";
import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.js";

const p = { initialMs: 100, maxMs: 1000 };
const table: Array<[number, number, number]> = [
  [0, 0, 50],
  [0, 0.999, 100],
  [1, 0, 100],
  [3, 0.5, 600],
  [4, 0, 500],
  [40, 0.999, 1000],
];
for (const [attempt, random, want] of table) {
  void it(`attempt ${attempt} with random ${random} waits ${want} ms (exponential, capped, half jitter)`, () => {
    assert.equal(backoffDelayMs(attempt, p, random), want);
  });
}
