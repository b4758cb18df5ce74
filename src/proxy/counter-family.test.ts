import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Registry } from "prom-client";
import { CounterFamily, labelSet } from "./counter-family.js";

const NAMES = ["a", "b"] as const;

test("the metrics text is prom-client's Counter's for the same increments", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const family = new CounterFamily("x_total", "help of x", 0).register(ours);
  const counter = new Counter({ name: "x_total", help: "help of x", labelNames: [...NAMES], registers: [theirs] });
  const one = labelSet(NAMES, { a: "1", b: 'q"uote\\' });
  const two = labelSet(NAMES, { a: "2", b: "x" });
  for (const [set, n] of [
    [two, 3],
    [one, 1],
    [two, 1],
    [one, 5],
  ] as const) {
    family.inc(set, n);
    counter.inc(set.labels, n);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.equal(family.valueOf(two), 4);
});

test("a label set held across a reset counts from zero, and a new set with the same labels shares the series", async () => {
  const reg = new Registry();
  const family = new CounterFamily("y_total", "h", 0).register(reg);
  const held = labelSet(NAMES, { a: "1", b: "2" });
  family.inc(held);
  reg.resetMetrics();
  family.inc(held, 2);
  family.inc(labelSet(NAMES, { a: "1", b: "2" }));
  const m = await family.get();
  assert.deepEqual(m.values, [{ value: 3, labels: { a: "1", b: "2" } }]);
});

test("collect runs before every export; nothing is exported before an increment", async () => {
  let collected = 0;
  const family = new CounterFamily("z_total", "h", 1, () => collected++);
  assert.deepEqual((await family.get()).values, []);
  assert.equal(collected, 1);
});
