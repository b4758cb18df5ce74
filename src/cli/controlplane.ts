/**
 * `weft controlplane`: serves ztunnels over delta xDS and signs their workloads' certificates,
 * from a folder of YAML (`--config-dir`) or the Kubernetes API (`--kubeconfig`). Flags are
 * src/controlplane/config.ts's table.
 */
import type { Command } from "commander";
import { CONTROLPLANE_FLAGS, loadControlPlaneConfig } from "../controlplane/config.js";
import { ControlPlane, authenticatorFor } from "../controlplane/controlplane.js";
import { logger } from "../common/log.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, componentCommand, componentError } from "./command.js";

const log = logger("cli.controlplane");

export function registerControlPlane(program: Command): void {
  componentCommand(
    program,
    {
      name: "controlplane",
      summary: "serve ztunnels (delta xDS + CA) from a folder of YAML or Kubernetes",
      flags: CONTROLPLANE_FLAGS,
      examples: [
        "weft controlplane --config-dir ./mesh --ca-dir ./ca --tokens tokens.yaml",
        "weft controlplane --kubeconfig ~/.kube/config --ca-dir /etc/cacerts",
      ],
    },
    runControlPlane,
  );
}

async function runControlPlane(cmd: Command, argv: string[]): Promise<number> {
  const cfg = loadControlPlaneConfig(argv, process.env);
  if (!cfg.ok) {
    process.stderr.write(componentError(cmd, cfg.error.message));
    return EXIT_USAGE;
  }
  let cp: ControlPlane;
  try {
    cp = new ControlPlane(cfg.value, authenticatorFor(cfg.value));
  } catch (e) {
    process.stderr.write(componentError(cmd, (e as Error).message));
    return EXIT_USAGE;
  }
  const started = await cp.start();
  if (!started.ok) {
    process.stderr.write(componentError(cmd, started.error.message));
    return EXIT_FAILED;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutdown requested");
      void cp.stop().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return EXIT_OK;
}
