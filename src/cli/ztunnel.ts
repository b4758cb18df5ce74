/**
 * `weft ztunnel`: runs a node's ztunnel until SIGTERM/SIGINT (or POST /quitquitquit), then
 * drains. Flags are src/ztunnel/config.ts's table; src/ztunnel/bootstrap.ts has the modes.
 */
import type { Command } from "commander";
import { ZTUNNEL_FLAGS, loadZtunnelConfig } from "../ztunnel/config.js";
import { startZtunnel } from "../ztunnel/bootstrap.js";
import { logger } from "../common/log.js";
import { compactWhenReady } from "../common/heap-compact.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, componentCommand, componentError } from "./command.js";

const log = logger("cli.ztunnel");

export function registerZtunnel(program: Command): void {
  componentCommand(
    program,
    {
      name: "ztunnel",
      summary: "run a node's ztunnel (HBONE data plane)",
      flags: ZTUNNEL_FLAGS,
      examples: [
        "weft ca init --dir ./ca && weft ztunnel --node node-0 --config static.yaml --ca-dir ./ca",
        "weft ztunnel --node node-0 --xds-address 10.0.0.1:15012 --token-file token --root-cert root-cert.pem --capture transparent",
      ],
    },
    runZtunnel,
  );
}

async function runZtunnel(cmd: Command, argv: string[]): Promise<number> {
  const cfg = loadZtunnelConfig(argv, process.env);
  if (!cfg.ok) {
    process.stderr.write(componentError(cmd, cfg.error.message));
    return EXIT_USAGE;
  }
  const config = cfg.value;
  log.info(
    {
      config: {
        ...config,
        static: config.static ? { workloads: config.static.workloads.length, services: config.static.services.length } : undefined,
      },
    },
    "configuration",
  );
  const running = await startZtunnel(config);
  if (!running.ok) {
    process.stderr.write(componentError(cmd, running.error.message));
    return EXIT_FAILED;
  }
  const stop = (signal: string) => {
    log.info({ signal }, "shutdown requested");
    void running.value.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  const component = running.value.ztunnel;
  const cancel = compactWhenReady(() => component.isReady(), log);
  await component.stopped;
  cancel();
  return EXIT_OK;
}
