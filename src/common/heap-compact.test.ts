import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { WEFT_NODE_FLAGS } from "./node-flags.js";
import { compactWhenReady, type CompactReport } from "./heap-compact.js";
import type { Result } from "./result.js";

// In a child process with the launchers' flags (and without --expose-gc): start-up-like
// allocation (most of it survives) grows the new space; compactHeap must shrink it back and
// must not leave a `gc` global behind in the main context.
test("compactHeap shrinks a grown new space and exposes no gc global", () => {
  const mod = JSON.stringify(path.join(__dirname, "heap-compact.js"));
  const script = `
    const v8 = require("v8");
    const { compactHeap } = require(${mod});
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
    const keep = [];
    for (let i = 0; i < 300000; i++) keep.push({ a: i, b: "x" + i, c: [i, i] });
    const before = newSpace();
    const r = compactHeap();
    console.log(JSON.stringify({ before, after: newSpace(), r, gcGlobal: typeof globalThis.gc, kept: keep.length }));`;
  const p = spawnSync(process.execPath, [...WEFT_NODE_FLAGS, "-e", script], { encoding: "utf8" });
  assert.equal(p.status, 0, p.stderr);
  const out = JSON.parse(p.stdout) as { before: number; after: number; r: Result<CompactReport>; gcGlobal: string; kept: number };
  assert.ok(out.r.ok, JSON.stringify(out.r));
  assert.ok(out.before >= 4 * 1024 * 1024, `new space only grew to ${out.before} bytes: the test did not exercise the case`);
  assert.ok(out.after <= out.before / 2, `new space ${out.before} -> ${out.after} bytes`);
  assert.equal(out.gcGlobal, "undefined");
  assert.ok(out.r.value.rssBeforeKb > 0 && out.r.value.rssAfterKb > 0 && out.r.value.pauseMs >= 0);
});

test("compactWhenReady compacts once, after readiness and the settle time", async () => {
  let ready = false;
  const results: Result<CompactReport>[] = [];
  const log = { info: () => {}, debug: () => {} } as never;
  compactWhenReady(() => ready, log, { pollMs: 5, settleMs: 20, done: (r) => results.push(r) });
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(results.length, 0, "compacted before ready");
  ready = true;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(results.length, 1);
  assert.ok(results[0]!.ok);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(results.length, 1, "compacted more than once");
});

test("compactWhenReady's cancel stops it before readiness", async () => {
  const results: unknown[] = [];
  const cancel = compactWhenReady(() => false, { info: () => {}, debug: () => {} } as never, { pollMs: 5, done: (r) => results.push(r) });
  await new Promise((r) => setTimeout(r, 20));
  cancel();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(results.length, 0);
});
