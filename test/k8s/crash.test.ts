/**
 * A test bed whose owner is SIGKILLed leaves daemons, pods, mounts, namespaces and cgroups
 * behind; the next start (reapTestbed) must find and remove all of it. Root only; run under
 * `flock /tmp/weft-testbed.lock`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import * as readline from "node:readline";
import { reapTestbed } from "./reap.js";
import { testbedSkipReason } from "./testbed.js";
import { PREFIX, RUN_ROOT, STATE_ROOT } from "./topology.js";

const skip = testbedSkipReason();
if (skip) console.warn(`!! SKIPPING the test bed crash-cleanup test: ${skip}`);

const leftovers = (): string[] => [
  ...readdirSync("/run/netns").filter((n) => n.startsWith(PREFIX)),
  ...readdirSync("/sys/fs/cgroup/memory").filter((n) => n.startsWith(PREFIX)),
  ...readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(RUN_ROOT) || m.startsWith(STATE_ROOT)),
  ...[RUN_ROOT, STATE_ROOT].filter((d) => existsSync(d)),
];

void test("a SIGKILLed test bed is removed completely by the next start", { skip, timeout: 180_000 }, async () => {
  const cli = spawn(process.execPath, [path.join(__dirname, "testbed-cli.js"), "up", "--nodes", "1"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = readline.createInterface({ input: cli.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on("line", (l) => l.startsWith("running") && resolve());
    cli.once("exit", (code) => reject(new Error(`testbed-cli exited with ${code} before it was up`)));
  });
  await assert.rejects(reapTestbed(), new RegExp(`test bed: in use by pid ${cli.pid}`), "a live test bed is not another run's to remove");
  cli.kill("SIGKILL");
  await new Promise((r) => cli.once("exit", r));
  assert.notDeepEqual(leftovers(), [], "a killed run leaves its namespaces and cgroups (or this test proves nothing)");
  const found = await reapTestbed();
  assert.ok(
    found.some((f) => / processes$/.test(f)),
    found.join(", "),
  );
  for (const want of ["netns wtb-net", "netns wtb-node1", "mount /run/weft-testbed/wtb-node1/mnt", "dir /var/lib/weft-testbed"]) {
    assert.ok(found.includes(want), `reap found ${found.join(", ")}; want ${want}`);
  }
  assert.deepEqual(leftovers(), []);
  assert.deepEqual(await reapTestbed(), [], "a second reap finds nothing");
});
