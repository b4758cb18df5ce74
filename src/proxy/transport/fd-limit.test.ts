import { test } from "node:test";
import assert from "node:assert/strict";
import { FdLimitWatch, fdLimitStep, openFdCount, parseOpenFileLimit } from "./fd-limit.js";

test("parseOpenFileLimit reads the soft and hard open-file limits of /proc/self/limits", () => {
  const text = [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max processes             127698               127698               processes ",
    "Max open files            1024                 524288               files     ",
  ].join("\n");
  assert.deepEqual(parseOpenFileLimit(text), { soft: 1024, hard: 524288 });
  assert.equal(parseOpenFileLimit("Max open files            unlimited            unlimited            files"), undefined);
  assert.equal(parseOpenFileLimit(""), undefined);
});

test("fdLimitStep: warns on reaching the limit, repeats while it lasts, says when it is over", () => {
  const opts = { headroom: 4, repeatMs: 30_000 };
  const calm = { exhausted: false, warnedAt: 0 };
  const rows: { open: number; now: number; event?: string; exhausted: boolean }[] = [
    { open: 90, now: 1_000, exhausted: false }, // 6 left: below the limit
    { open: 96, now: 2_000, event: "exhausted", exhausted: true }, // 4 left: at it
    { open: 100, now: 3_000, exhausted: true }, // still at it: no repeat within 30 s
    { open: 99, now: 32_000, event: "exhausted", exhausted: true }, // repeated after 30 s
    { open: 95, now: 33_000, event: "recovered", exhausted: false },
    { open: 95, now: 34_000, exhausted: false },
    { open: 97, now: 35_000, event: "exhausted", exhausted: true }, // a new episode warns at once
  ];
  let state = calm;
  for (const r of rows) {
    const out = fdLimitStep(state, { open: r.open, limit: 100, now: r.now }, opts);
    assert.equal(out.event?.kind, r.event, `open ${r.open} at ${r.now}`);
    assert.equal(out.state.exhausted, r.exhausted, `open ${r.open} at ${r.now}`);
    state = out.state;
  }
});

test("FdLimitWatch reports through onEvent from its samples; openFdCount counts this process's descriptors", () => {
  let open = 10;
  const events: string[] = [];
  const w = new FdLimitWatch({ limit: 20, count: () => open, onEvent: (e) => events.push(`${e.kind} ${e.open}/${e.limit}`) });
  w.sample();
  open = 17;
  w.sample();
  open = 5;
  w.sample();
  assert.deepEqual(events, ["exhausted 17/20", "recovered 5/20"]);
  assert.ok(new FdLimitWatch({ onEvent: () => {} }).limit! > 0, "this process's own limit is read");
  const n = openFdCount();
  assert.ok(n >= 3, `stdin, stdout, stderr at least: ${n}`);
});
