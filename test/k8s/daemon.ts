/**
 * The test bed's long-running processes (etcd, apiserver, containerd, kubelet, ...): started
 * inside a network namespace (and a node's mount namespace) with `nsenter`, which execs the
 * program itself, so the child's pid is the daemon's. Output goes to a log file; a failure to
 * come up reports the log's tail. Every daemon is SIGKILLed if the test process exits without
 * stop() (reap.ts catches a SIGKILLed test process on the next start).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface DaemonSpec {
  readonly name: string;
  readonly argv: readonly string[];
  readonly netns?: string;
  readonly mountNs?: string;
  readonly log: string;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export class Daemon {
  private child: ChildProcess | undefined;

  constructor(readonly spec: DaemonSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get exited(): boolean {
    return !this.child || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  start(): this {
    const ns = [
      ...(this.spec.netns ? [`--net=/run/netns/${this.spec.netns}`] : []),
      ...(this.spec.mountNs ? [`--mount=${this.spec.mountNs}`] : []),
    ];
    const fd = openSync(this.spec.log, "a");
    const [cmd, ...args] = ns.length > 0 ? ["nsenter", ...ns, "--", ...this.spec.argv] : this.spec.argv;
    const child = spawn(cmd!, args, { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    running.add(child);
    child.once("exit", () => running.delete(child));
    this.child = child;
    return this;
  }

  /** SIGTERM, then SIGKILL after `graceMs` (0: SIGKILL at once). */
  async stop(graceMs = 5000): Promise<void> {
    const c = this.child;
    if (!c || this.exited) return;
    const gone = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill(graceMs === 0 ? "SIGKILL" : "SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(t);
  }

  /** Polls `probe` until true; fails early (with the log) if the daemon exits. */
  async waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited)
        throw new Error(
          `${this.spec.name} exited (${this.child?.exitCode ?? this.child?.signalCode}) before ${what}; log:\n${tail(this.spec.log)}`,
        );
      if (await probe().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${this.spec.name}: not ${what} within ${timeoutMs} ms; log:\n${tail(this.spec.log)}`);
  }
}

/** Polls `probe` (no daemon to watch) until it returns a value. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
}
