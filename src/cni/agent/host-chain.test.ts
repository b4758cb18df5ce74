import { test } from "node:test";
import assert from "node:assert/strict";
import { isUninstall } from "./host-chain.js";

void test("a stop is an uninstall only when the DaemonSet is gone or being deleted", () => {
  assert.equal(isUninstall(undefined), true);
  assert.equal(isUninstall({ metadata: { deletionTimestamp: "2026-12-02T00:00:00Z" } }), true);
  assert.equal(isUninstall({ metadata: {} }), false, "an upgrade or a restart");
  assert.equal(isUninstall({}), false);
});
