/**
 * The local cluster's process supervisor (`weft local supervise --dir STATE`, started detached by
 * `weft local up`): runs every process described in STATE/procs/*.json, inside its network
 * namespace, restarts it when it dies (backoff 0.5 s doubling to 5 s, reset after 10 s of
 * uptime), stops it when its file is removed or disabled, and writes STATE/pids/<name>.json.
 * Logs go to STATE/logs/<name>.log.
 *
 * Processes run in their own process group (so a pod's shell and its children die together),
 * via `nsenter --net=` (node components: keeps /sys/fs/bpf visible) or `ip netns exec` (pods,
 * as the brief of a pod runtime says); both exec, so the recorded pid is the process's own.
 * A pid file also records the process start time (/proc/<pid>/stat field 22), so a later
 * `down` never signals a recycled pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { logger } from "../common/log.js";

const log = logger("local.supervisor");

export interface ProcSpec {
  readonly name: string;
  readonly argv: readonly string[];
  /** Network namespace name; undefined: the supervisor's own. */
  readonly netns?: string;
  /** How to enter the namespace. */
  readonly enter: "nsenter" | "ip-netns";
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** false: keep the spec but do not run it (`weft local process stop NAME`). */
  readonly enabled: boolean;
}

export interface PidRecord {
  readonly pid: number;
  /** /proc/<pid>/stat start time, to recognise the process later. */
  readonly start: string;
  readonly restarts: number;
  readonly startedAt: string;
}

export const dirs = (state: string) => ({
  procs: path.join(state, "procs"),
  pids: path.join(state, "pids"),
  logs: path.join(state, "logs"),
});

/** The start time of a running process, or undefined when it is gone. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (comm) may contain spaces; fields after the closing parenthesis are fixed.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the recorded process is still the one we started. */
export function isAlive(rec: PidRecord): boolean {
  return processStart(rec.pid) === rec.start;
}

export async function writeSpec(state: string, spec: ProcSpec): Promise<void> {
  const d = dirs(state).procs;
  await mkdir(d, { recursive: true });
  const tmp = path.join(d, `.${spec.name}.tmp`);
  await writeFile(tmp, JSON.stringify(spec, null, 1));
  const { rename } = await import("node:fs/promises");
  await rename(tmp, path.join(d, `${spec.name}.json`));
}

export async function readSpecs(state: string): Promise<Map<string, ProcSpec>> {
  const out = new Map<string, ProcSpec>();
  let names: string[];
  try {
    names = await readdir(dirs(state).procs);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n.startsWith(".") || !n.endsWith(".json")) continue;
    try {
      const s = JSON.parse(await readFile(path.join(dirs(state).procs, n), "utf8")) as ProcSpec;
      if (typeof s.name === "string" && Array.isArray(s.argv)) out.set(s.name, s);
    } catch {
      /* being written: next scan */
    }
  }
  return out;
}

export async function readPids(state: string): Promise<Map<string, PidRecord>> {
  const out = new Map<string, PidRecord>();
  let names: string[];
  try {
    names = await readdir(dirs(state).pids);
  } catch {
    return out;
  }
  for (const n of names) {
    if (!n.endsWith(".json")) continue;
    try {
      out.set(n.slice(0, -5), JSON.parse(await readFile(path.join(dirs(state).pids, n), "utf8")) as PidRecord);
    } catch {
      /* ignore */
    }
  }
  return out;
}

/** Signals a recorded process group if it is still ours. */
export function signalRecord(rec: PidRecord, signal: NodeJS.Signals): boolean {
  if (!isAlive(rec)) return false;
  try {
    process.kill(-rec.pid, signal);
  } catch {
    try {
      process.kill(rec.pid, signal);
    } catch {
      return false;
    }
  }
  return true;
}

interface Running {
  spec: ProcSpec;
  key: string;
  child?: ChildProcess;
  restarts: number;
  backoffMs: number;
  nextStart: number;
  startedAt: number;
  stopping: boolean;
}

export class Supervisor {
  private readonly procs = new Map<string, Running>();
  private timer?: NodeJS.Timeout;
  private scanning = false;
  /**
   * Set once shutdown begins: no scan goes on and nothing starts after it. A scan in flight
   * (awaiting a pid file of an earlier start) would otherwise make a record for a spec that
   * stopAll never saw, or for one whose record an exit just deleted, and start a process that
   * outlives the supervisor.
   */
  private stopped = false;

  constructor(private readonly state: string) {}

  /** Runs until SIGTERM or SIGINT, or until `until` aborts; then stops every process. */
  async run(until?: AbortSignal): Promise<void> {
    const d = dirs(this.state);
    for (const x of [d.procs, d.pids, d.logs]) await mkdir(x, { recursive: true });
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        if (this.stopped) return;
        this.stopped = true;
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
        if (this.timer) clearInterval(this.timer);
        void this.stopAll().then(resolve);
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      until?.addEventListener("abort", stop, { once: true });
      this.timer = setInterval(() => void this.scan(), 250);
      void this.scan();
    });
  }

  private async scan(): Promise<void> {
    if (this.scanning || this.stopped) return;
    this.scanning = true;
    try {
      const specs = await readSpecs(this.state);
      for (const [name, r] of this.procs) {
        const s = specs.get(name);
        if (!s || !s.enabled || JSON.stringify(s) !== r.key) {
          r.stopping = true;
          this.kill(r);
          if (!r.child) this.procs.delete(name);
        }
      }
      const now = Date.now();
      for (const [name, s] of specs) {
        if (!s.enabled) continue;
        let r = this.procs.get(name);
        if (!r) {
          r = { spec: s, key: JSON.stringify(s), restarts: 0, backoffMs: 500, nextStart: 0, startedAt: 0, stopping: false };
          this.procs.set(name, r);
        }
        if (!r.child && !r.stopping && now >= r.nextStart) await this.start(r);
      }
    } finally {
      this.scanning = false;
    }
  }

  private async start(r: Running): Promise<void> {
    // No await between this check and the spawn: a child exists before stopAll can look.
    if (this.stopped) return;
    const s = r.spec;
    const argv = s.netns
      ? s.enter === "ip-netns"
        ? ["ip", "netns", "exec", s.netns, ...s.argv]
        : ["nsenter", `--net=/run/netns/${s.netns}`, "--", ...s.argv]
      : [...s.argv];
    const out = openSync(path.join(dirs(this.state).logs, `${s.name}.log`), "a");
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ["ignore", out, out],
      env: { ...process.env, ...s.env },
      ...(s.cwd ? { cwd: s.cwd } : {}),
    });
    closeSync(out);
    r.child = child;
    r.startedAt = Date.now();
    child.on("error", (e) => log.warn({ proc: s.name, error: e.message }, "spawn failed"));
    child.on("exit", (code, signal) => {
      r.child = undefined;
      void rm(path.join(dirs(this.state).pids, `${s.name}.json`), { force: true });
      if (r.stopping) {
        this.procs.delete(s.name);
        return;
      }
      if (Date.now() - r.startedAt > 10_000) r.backoffMs = 500;
      r.nextStart = Date.now() + r.backoffMs;
      r.backoffMs = Math.min(r.backoffMs * 2, 5000);
      r.restarts++;
      log.warn({ proc: s.name, code, signal, restartInMs: r.nextStart - Date.now() }, "process exited; restarting");
    });
    if (child.pid) {
      // The start time is read right away; the process may already be gone (then no pid file).
      const start = processStart(child.pid);
      if (start) {
        const rec: PidRecord = { pid: child.pid, start, restarts: r.restarts, startedAt: new Date().toISOString() };
        await writeFile(path.join(dirs(this.state).pids, `${s.name}.json`), JSON.stringify(rec));
      }
    }
  }

  private kill(r: Running, signal: NodeJS.Signals = "SIGTERM"): void {
    if (!r.child?.pid) return;
    try {
      process.kill(-r.child.pid, signal);
    } catch {
      /* already gone */
    }
  }

  private async stopAll(): Promise<void> {
    const all = [...this.procs.values()];
    for (const r of all) {
      r.stopping = true;
      this.kill(r);
    }
    const deadline = Date.now() + 3000;
    while (all.some((r) => r.child) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    for (const r of all) this.kill(r, "SIGKILL");
    await new Promise((res) => setTimeout(res, 100));
  }
}
