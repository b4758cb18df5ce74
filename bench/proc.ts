/**
 * Child processes and temp dirs of one bench run, and the guarantee that none outlives it.
 *
 * Every child is spawned detached into its own process group, so that stopping it also stops
 * anything it forked (stunnel's helpers, a shell's children). All groups and temp dirs are
 * registered here; `cleanupSync` kills every group still alive and removes every dir, and runs
 * on normal exit, on SIGINT/SIGTERM and on uncaught errors (installed by `installCleanupHooks`).
 * Only process groups this module created are ever signalled.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { err, ok, type Result } from "../src/common/result.js";

const liveGroups = new Set<number>();
const tempDirs = new Set<string>();

/** A started child: its pid (= its process group id), captured stderr tail and exit state. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Last ~8 KB of stdout+stderr, for error messages. */
  output(): string;
  /** All of stdout (only kept when spawned with `keepStdout`). */
  stdout(): string;
  /** Null while running; the exit code or signal name once exited. */
  exited(): string | null;
  /** Resolves once the process has exited. */
  readonly done: Promise<void>;
}

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `weft-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Spawns `cmd args` in a new process group with stdin closed; output is kept (tail) for errors. */
export function spawnChild(
  name: string,
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; keepStdout?: boolean } = {},
): Result<Child> {
  let proc: ChildProcess;
  try {
    proc = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    return err(new Error(`${name}: spawn ${cmd}: ${(e as Error).message}`, { cause: e }));
  }
  if (proc.pid === undefined) {
    // spawn reports ENOENT asynchronously; the pid is missing exactly in that case.
    proc.on("error", () => undefined);
    return err(new Error(`${name}: cannot start ${cmd} (not installed? run scripts/setup.sh)`));
  }
  const pid = proc.pid;
  liveGroups.add(pid);
  let tail = "";
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString("utf8")).slice(-8192);
  };
  let stdout = "";
  proc.stdout?.on("data", (chunk: Buffer) => {
    if (opts.keepStdout) stdout += chunk.toString("utf8");
    keep(chunk);
  });
  proc.stderr?.on("data", keep);
  let exitState: string | null = null;
  const done = new Promise<void>((resolve) => {
    proc.on("error", (e) => {
      exitState ??= `error ${e.message}`;
      resolve();
    });
    proc.on("exit", (code, signal) => {
      exitState = signal ?? String(code);
      resolve();
    });
  });
  // The group may still hold grandchildren after the leader exits; keep it registered until
  // stopChild or cleanupSync has signalled it.
  return ok({ name, pid, proc, output: () => tail, stdout: () => stdout, exited: () => exitState, done });
}

/** SIGTERM to the child's group, SIGKILL after `graceMs`; resolves when the leader has exited. */
export async function stopChild(child: Child, graceMs = 2000): Promise<void> {
  signalGroup(child.pid, "SIGTERM");
  const timedOut = await Promise.race([child.done.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) {
    signalGroup(child.pid, "SIGKILL");
    await child.done;
  }
  // Grandchildren that ignored SIGTERM.
  signalGroup(child.pid, "SIGKILL");
  liveGroups.delete(child.pid);
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Kills every registered group and removes every registered temp dir, synchronously. */
export function cleanupSync(): void {
  for (const pgid of liveGroups) signalGroup(pgid, "SIGKILL");
  liveGroups.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Installs exit / signal / crash hooks that run `cleanupSync` (once per process). */
export function installCleanupHooks(): void {
  process.on("exit", cleanupSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}: stopping all started processes and removing temp dirs`);
      cleanupSync();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
  process.on("uncaughtException", (e) => {
    console.error("bench: uncaught error:", e);
    cleanupSync();
    process.exit(1);
  });
}

/** Waits for a child to exit on its own, killing its group after `timeoutMs`; true if it exited in time. */
export async function waitChild(child: Child, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    child.done.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  await stopChild(child);
  return inTime;
}

/** Runs a short command to completion (bounded by `timeoutMs`) and returns its stdout. */
export function runSync(cmd: string, args: readonly string[], timeoutMs = 30_000): Result<string> {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) return err(new Error(`${cmd}: ${r.error.message}`, { cause: r.error }));
  if (r.status !== 0) {
    // Both ends of stderr: the error line of a Node stack trace is at the top, a tool's summary at the bottom.
    const e = r.stderr.trim();
    const shown = e.length <= 800 ? e : `${e.slice(0, 400)} ... ${e.slice(-400)}`;
    return err(new Error(`${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}: ${shown}`));
  }
  return ok(r.stdout);
}

/** Resident set size of a process in KiB (VmRSS of /proc/PID/status), or an error if it is gone. */
export function readRssKb(pid: number): Result<number> {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch (e) {
    return err(new Error(`rss: pid ${pid}: ${(e as Error).message}`));
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) return err(new Error(`rss: pid ${pid}: no VmRSS line (zombie?)`));
  return ok(Number(m[1]));
}

/**
 * Where a process's resident memory is, in KiB: anonymous (heaps) against file-backed (the
 * program's binary and libraries: clean pages, shared with every process running the same
 * file), and PSS (each shared page divided among the processes mapping it). A Node.js
 * process's RSS is half file-backed pages of the statically linked node binary.
 */
export interface MemorySplitKb {
  readonly anonKb: number;
  readonly fileKb: number;
  readonly pssKb: number;
}

export function readMemorySplitKb(pid: number): Result<MemorySplitKb> {
  let status: string;
  let rollup: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
    rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  } catch (e) {
    return err(new Error(`memory: pid ${pid}: ${(e as Error).message}`));
  }
  const field = (text: string, name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, "m").exec(text);
    return m ? Number(m[1]) : null;
  };
  const anonKb = field(status, "RssAnon");
  const fileKb = field(status, "RssFile");
  const pssKb = field(rollup, "Pss");
  if (anonKb === null || fileKb === null || pssKb === null) return err(new Error(`memory: pid ${pid}: no RssAnon/RssFile/Pss line`));
  return ok({ anonKb, fileKb, pssKb });
}

/** CPU time (user + system) a process has used so far, in milliseconds; null if it is gone. */
export function readCpuMs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // Fields after the parenthesised command name (which may contain spaces): state is field 3,
  // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * 10 : null;
}

/**
 * Waits until every process in `pids` is quiet (under `busyPercent` of one CPU over two
 * consecutive 250 ms windows), or `maxMs` passes. Used after closing thousands of connections,
 * so their teardown (stunnel joins a thread per connection) is not measured as the next phase's
 * latency. Returns how long it waited.
 */
export async function waitQuiet(pids: readonly number[], maxMs: number, busyPercent = 5): Promise<number> {
  const t0 = Date.now();
  const windowMs = 250;
  let prev = pids.map(readCpuMs);
  let quietWindows = 0;
  while (Date.now() - t0 < maxMs && quietWindows < 2) {
    await sleep(windowMs);
    const cur = pids.map(readCpuMs);
    const busy = cur.some((c, i) => c !== null && prev[i] != null && ((c - prev[i]!) / windowMs) * 100 > busyPercent);
    quietWindows = busy ? 0 : quietWindows + 1;
    prev = cur;
  }
  return Date.now() - t0;
}

/** The soft limit on open files of this process (from /proc/self/limits). */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  if (!m) return 1024;
  return m[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/** Polls until the child's output matches `pattern` (e.g. a "listening" line), it dies, or time runs out. */
export async function waitForOutput(child: Child, pattern: RegExp, timeoutMs = 10_000): Promise<Result<void>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(child.output())) return ok(undefined);
    if (child.exited() != null) return err(new Error(`${child.name} exited (${child.exited()}): ${child.output().trim().slice(-1500)}`));
    await sleep(20);
  }
  return err(new Error(`${child.name}: not ready after ${timeoutMs} ms: ${child.output().trim().slice(-1500)}`));
}

/** Polls until a TCP connect to host:port succeeds, the child dies, or `timeoutMs` passes. */
export async function waitForPort(host: string, port: number, child: Child | null, timeoutMs = 10_000): Promise<Result<void>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.exited() != null)
      return err(
        new Error(`${child.name} exited (${child.exited()}) before listening on ${host}:${port}: ${child.output().trim().slice(-1500)}`),
      );
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return ok(undefined);
    await sleep(50);
  }
  return err(
    new Error(
      `${child?.name ?? "peer"}: nothing listening on ${host}:${port} after ${timeoutMs} ms${child ? `: ${child.output().trim().slice(-1500)}` : ""}`,
    ),
  );
}
