/**
 * A weft control plane in Kubernetes mode against the kube integration tests' API server: the
 * real `loadControlPlaneConfig` and `ControlPlane`, its xDS and monitoring ports on ephemeral
 * ports of `host`, its CA in `dir`. The caller stops it.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { loadControlPlaneConfig } from "../../src/controlplane/config.js";
import { ControlPlane, authenticatorFor } from "../../src/controlplane/controlplane.js";
import type { KubeCluster } from "./apiserver.js";

export async function startKubeControlPlane(
  c: KubeCluster,
  host: string,
  dir: string,
  extra: readonly string[] = [],
): Promise<ControlPlane> {
  const args = ["--kubeconfig", c.kubeconfigPath, "--ca-dir", path.join(dir, "ca"), "--listen", `${host}:0`, "--monitor", `${host}:0`];
  const cfg = loadControlPlaneConfig([...args, ...extra], {});
  assert.ok(cfg.ok, !cfg.ok ? cfg.error.message : "");
  const cp = new ControlPlane(cfg.value, authenticatorFor(cfg.value));
  const started = await cp.start();
  if (!started.ok) await cp.stop();
  assert.ok(started.ok, !started.ok ? started.error.message : "");
  return cp;
}
