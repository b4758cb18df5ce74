/**
 * `weft controlplane`: serves ztunnels over delta xDS and signs their workloads' certificates,
 * from a folder of YAML (`--config-dir`) or the Kubernetes API (`--kubeconfig`).
 */
import { loadControlPlaneConfig } from "../controlplane/config.js";
import { ControlPlane, authenticatorFor } from "../controlplane/controlplane.js";
import { logger } from "../common/log.js";

const log = logger("cli.controlplane");

export async function runControlPlane(argv: string[]): Promise<number> {
  const cfg = loadControlPlaneConfig(argv, process.env);
  if (!cfg.ok) {
    console.error(cfg.error.message);
    return 2;
  }
  let cp: ControlPlane;
  try {
    cp = new ControlPlane(cfg.value, authenticatorFor(cfg.value));
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const started = await cp.start();
  if (!started.ok) {
    console.error(started.error.message);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutdown requested");
      void cp.stop().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}
