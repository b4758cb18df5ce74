import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Serial } from "./serial.js";

void test("serial: operations run one at a time in call order, and a failure does not stop the queue", async () => {
  const s = new Serial();
  const log: string[] = [];
  const op =
    (name: string, ms: number, fail = false) =>
    async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
  const results = await Promise.allSettled([s.run(op("a", 20)), s.run(op("b", 1, true)), s.run(op("c", 5))]);
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
});
