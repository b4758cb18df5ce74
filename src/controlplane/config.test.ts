/** The control plane's policy flags: `--authz-l4-mode` and `--revision` (and their environment). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadControlPlaneConfig } from "./config.js";

const base = ["--config-dir", "/nonexistent/config", "--ca-dir", "/nonexistent/ca"];

void test("authz L4 mode and revision: defaults, flags, environment, bad values", () => {
  const d = loadControlPlaneConfig(base, {});
  assert.ok(d.ok);
  if (d.ok) {
    assert.equal(d.value.authzL4Mode, "istio", "Istio's conversion is the default");
    assert.equal(d.value.revision, "");
  }
  const f = loadControlPlaneConfig([...base, "--authz-l4-mode", "strict", "--revision", "canary"], {});
  assert.ok(f.ok && f.value.authzL4Mode === "strict" && f.value.revision === "canary");
  const e = loadControlPlaneConfig(base, { WEFT_AUTHZ_L4_MODE: "strict", REVISION: "stable" });
  assert.ok(e.ok && e.value.authzL4Mode === "strict" && e.value.revision === "stable");
  const bad = loadControlPlaneConfig([...base, "--authz-l4-mode", "safe"], {});
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.error.message, /--authz-l4-mode "safe": expected istio or strict/);
});
