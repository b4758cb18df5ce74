/**
 * `weft ztunnel`: runs a node's ztunnel until SIGTERM/SIGINT (or POST /quitquitquit), then
 * drains. See src/ztunnel/config.ts for flags; src/ztunnel/bootstrap.ts for the modes.
 */
import { loadZtunnelConfig } from "../ztunnel/config.js";
import { startZtunnel } from "../ztunnel/bootstrap.js";
import { logger } from "../common/log.js";

const log = logger("cli.ztunnel");

export async function runZtunnel(argv: string[]): Promise<number> {
  const cfg = loadZtunnelConfig(argv, process.env);
  if (!cfg.ok) {
    console.error(cfg.error.message);
    return 2;
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
    console.error(running.error.message);
    return 1;
  }
  const stop = (signal: string) => {
    log.info({ signal }, "shutdown requested");
    void running.value.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  await running.value.ztunnel.stopped;
  return 0;
}
