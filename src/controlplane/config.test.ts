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

void test("serving DNS names: istiod.<root-namespace>.svc by default, a comma list by flag or environment, bad names rejected", () => {
  const d = loadControlPlaneConfig(base, {});
  assert.ok(d.ok && d.value.servingDnsNames.join() === "istiod.istio-system.svc");
  const r = loadControlPlaneConfig([...base, "--root-namespace", "mesh-root"], {});
  assert.ok(r.ok && r.value.servingDnsNames.join() === "istiod.mesh-root.svc");
  const f = loadControlPlaneConfig([...base, "--serving-dns-names", "istiod.istio-system.svc, istiod.istio-system.svc.cluster.local"], {});
  assert.deepEqual(f.ok && f.value.servingDnsNames, ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local"]);
  const e = loadControlPlaneConfig(base, { WEFT_SERVING_DNS_NAMES: "cp.example" });
  assert.deepEqual(e.ok && e.value.servingDnsNames, ["cp.example"]);
  for (const badName of ["Istiod.svc", "a..b", "-a.b", "a_b.svc"]) {
    const bad = loadControlPlaneConfig([...base, `--serving-dns-names=${badName}`], {});
    assert.equal(bad.ok, false, badName);
    if (!bad.ok) assert.match(bad.error.message, /--serving-dns-names: ".*" is not a DNS name/);
  }
});
