import { test } from "node:test";
import assert from "node:assert/strict";
import { run } from "./exec.js";

test("run: output of a command that succeeds; a failure carries its exit code and stderr", async () => {
  const r = await run("sh", ["-c", "echo out; echo err >&2"]);
  assert.ok(r.ok);
  assert.deepEqual(r.value, { stdout: "out\n", stderr: "err\n" });
  const f = await run("sh", ["-c", "echo bad >&2; exit 3"]);
  assert.ok(!f.ok);
  assert.equal(f.error.exitCode, 3);
  assert.equal(f.error.message, "sh -c echo bad >&2; exit 3: bad");
});

test("run: a command killed by its timeout says so, with the timeout", async () => {
  const r = await run("sleep", ["5"], { timeoutMs: 100 });
  assert.ok(!r.ok);
  assert.equal(r.error.exitCode, null);
  assert.equal(r.error.message, "sleep 5: killed after 100 ms (timeout)");
});
