import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { WEFT_NODE_FLAGS, nodeFlagsFor } from "./node-flags.js";

test("the weft command's shebang carries the same flags", () => {
  const main = path.join(__dirname, "..", "cli", "main.js");
  const first = readFileSync(main, "utf8").split("\n", 1)[0];
  assert.equal(first, `#!/usr/bin/env -S node ${WEFT_NODE_FLAGS.join(" ")}`);
});

test("the running Node accepts the flags and applies the semi-space ceiling", () => {
  // Keeps ~40 MB of young objects reachable for a while so that V8 grows new space as far as
  // it is allowed to; new space is two semi-spaces, so it must end at most 2 x 16 MB.
  const script = `
    const v8 = require("v8"); let keep = []; let max = 0;
    for (let i = 0; i < 400000; i++) {
      keep.push({ a: i, b: "x" + i, c: [i, i] });
      if (keep.length > 200000) keep = keep.slice(100000);
      if (i % 1000 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);
    }
    console.log(max);`;
  const r = spawnSync(process.execPath, [...WEFT_NODE_FLAGS, "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Number(r.stdout) <= 32 * 1024 * 1024, `new space grew to ${r.stdout.trim()} bytes`);
});

test("a component's flags follow the shared ones: its WEFT_<COMPONENT>_NODE_FLAGS, else its default", () => {
  const cases: [string | undefined, Record<string, string>, readonly string[]][] = [
    ["waypoint", {}, nodeFlagsFor("waypoint", {})],
    [
      "waypoint",
      { WEFT_WAYPOINT_NODE_FLAGS: " --max-semi-space-size=1  --cpu-prof-dir=/tmp/p " },
      [...WEFT_NODE_FLAGS, "--max-semi-space-size=1", "--cpu-prof-dir=/tmp/p"],
    ],
    ["waypoint", { WEFT_WAYPOINT_NODE_FLAGS: "" }, WEFT_NODE_FLAGS],
    ["local", { WEFT_WAYPOINT_NODE_FLAGS: "--max-semi-space-size=1" }, WEFT_NODE_FLAGS],
    ["cni-agent", { WEFT_CNI_AGENT_NODE_FLAGS: "--max-semi-space-size=2" }, [...WEFT_NODE_FLAGS, "--max-semi-space-size=2"]],
    [undefined, {}, WEFT_NODE_FLAGS],
  ];
  for (const [component, env, want] of cases) assert.deepEqual(nodeFlagsFor(component, env), want, `${component} ${JSON.stringify(env)}`);
  assert.deepEqual(nodeFlagsFor("waypoint", {}).slice(0, WEFT_NODE_FLAGS.length), WEFT_NODE_FLAGS);
});

test("a component flag that is not a --flag is refused, naming the variable", () => {
  assert.throws(
    () => nodeFlagsFor("waypoint", { WEFT_WAYPOINT_NODE_FLAGS: "--max-semi-space-size=1 rm" }),
    /WEFT_WAYPOINT_NODE_FLAGS: "rm"/,
  );
});
