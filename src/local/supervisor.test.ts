import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Supervisor, isAlive, readPids, writeSpec } from "./supervisor.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Those of `pids` that are still running. */
function alive(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

test("supervisor: a shutdown during the first scan leaves no process behind (none started after it)", async () => {
  const state = mkdtempSync(path.join(tmpdir(), "weft-supervisor-"));
  const seen = new Set<number>();
  try {
    // Many specs, so the first scan is still starting them (one pid file write each) when the
    // shutdown comes.
    const N = 24;
    for (let i = 0; i < N; i++)
      await writeSpec(state, { name: `p${String(i).padStart(2, "0")}`, argv: ["sleep", "30"], enter: "nsenter", env: {}, enabled: true });
    const sup = new Supervisor(state);
    const stop = new AbortController();
    const running = sup.run(stop.signal);
    let first = 0;
    while ((first = (await readPids(state)).size) === 0) await sleep(1);
    assert.ok(first < N, `the shutdown should come while the first scan still starts processes (${first} of ${N} already up)`);
    stop.abort();
    // Record every pid the scan writes while the shutdown runs.
    const watch = (async () => {
      for (let i = 0; i < 400; i++) {
        for (const rec of (await readPids(state)).values()) if (isAlive(rec)) seen.add(rec.pid);
        await sleep(5);
      }
    })();
    await running;
    await watch;
    await sleep(200);
    assert.deepEqual(alive([...seen]), [], "a process started by the supervisor outlived it");
  } finally {
    for (const pid of alive([...seen])) process.kill(pid, "SIGKILL");
    rmSync(state, { recursive: true, force: true });
  }
});
