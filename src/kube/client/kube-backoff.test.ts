import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, sleep } from "./kube-backoff.js";

void test("kube-backoff: delays double per attempt, stay within [ceiling/2, ceiling] and are capped", () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  const cases: Array<[attempt: number, random: number, want: number]> = [
    [0, 0, 50],
    [0, 1, 100],
    [1, 0, 100],
    [2, 0.5, 300],
    [3, 1, 800],
    [4, 1, 1000], // capped
    [50, 0, 500], // huge attempts do not overflow
    [-3, 1, 100], // negative attempts count as the first
  ];
  for (const [attempt, random, want] of cases)
    assert.equal(backoffDelay(attempt, policy, random), want, `attempt ${attempt} random ${random}`);
});

void test("kube-backoff: sleep ends early when aborted", async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  const p = sleep(10_000, ac.signal);
  ac.abort();
  assert.equal(await p, false);
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(await sleep(1, new AbortController().signal), true);
});
