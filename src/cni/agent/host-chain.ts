/**
 * The node agent's care of the chained plugin on a Kubernetes node: installs it and chains it
 * into the primary network configuration at start, re-checks every few seconds (network plugins
 * rewrite their files; one that starts after weft is picked up), reports readiness, and on stop
 * removes it only when this is an uninstall: the agent's DaemonSet is gone or being deleted
 * (`weft uninstall` deletes it first). On an upgrade or restart the chain stays, so pods keep
 * failing closed (CNI ADD answers "try again later") rather than starting uncaptured while no
 * agent runs. When the API server cannot be asked, the chain also stays (fail closed).
 */
import { logger } from "../../common/log.js";
import { type ChainPaths, installChain, removeChain } from "../../capture/chain-install.js";
import type { ChainEntry } from "../../capture/cni-chain.js";

const log = logger("cni-agent.chain");

export const RECHECK_MS = 5000;

/** Is a stop an uninstall? From the agent's DaemonSet as read: absent (undefined) or being deleted. */
export function isUninstall(daemonSet: { metadata?: { deletionTimestamp?: string | Date } } | undefined): boolean {
  return daemonSet === undefined || daemonSet.metadata?.deletionTimestamp !== undefined;
}

export class HostChain {
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined = "not installed yet";
  private running: Promise<void> | undefined;

  constructor(
    private readonly paths: ChainPaths,
    private readonly version: string,
    private readonly entry: ChainEntry,
  ) {}

  /** Installs once now, then re-checks every RECHECK_MS. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), RECHECK_MS);
    this.timer.unref();
  }

  /** undefined when the plugin is installed and chained, else why not. */
  get problem(): string | undefined {
    return this.lastError;
  }

  private check(): Promise<void> {
    this.running ??= (async () => {
      const r = await installChain(this.paths, this.version, this.entry);
      if (!r.ok) {
        if (r.error.message !== this.lastError) log.warn({ error: r.error.message }, "CNI plugin not chained");
        this.lastError = r.error.message;
      } else {
        if (r.value.action === "chained" || this.lastError) log.info({ file: r.value.file }, "CNI plugin chained");
        this.lastError = undefined;
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops re-checking; removes the plugin when `uninstall`. */
  async stop(uninstall: boolean): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (!uninstall) {
      log.info({}, "CNI plugin left chained (not an uninstall: pods fail closed until an agent runs again)");
      return;
    }
    const r = await removeChain(this.paths, this.version);
    if (r.ok) log.info({ removed: r.value }, "CNI plugin removed (uninstall)");
    else log.error({ error: r.error.message }, "removing the CNI plugin failed");
  }
}
