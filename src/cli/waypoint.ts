/**
 * `weft waypoint`: runs a waypoint (the L7 proxy of a Gateway of class istio-waypoint) until
 * SIGTERM/SIGINT (or POST /quitquitquit), then drains. Flags: src/waypoint/config.ts.
 */
import { loadWaypointConfig } from "../waypoint/config.js";
import { startWaypoint } from "../waypoint/bootstrap.js";
import { logger } from "../common/log.js";
import { compactWhenReady } from "../common/heap-compact.js";

const log = logger("cli.waypoint");

export async function runWaypoint(argv: string[]): Promise<number> {
  const cfg = loadWaypointConfig(argv, process.env);
  if (!cfg.ok) {
    console.error(cfg.error.message);
    return 2;
  }
  const { static: stat, ...rest } = cfg.value;
  log.info(
    { config: { ...rest, static: stat ? Object.fromEntries([...stat.resources].map(([k, v]) => [k, v.length])) : undefined } },
    "configuration",
  );
  const running = await startWaypoint(cfg.value);
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
  const component = running.value.waypoint;
  const cancel = compactWhenReady(() => component.isReady(), log);
  await component.stopped;
  cancel();
  return 0;
}
