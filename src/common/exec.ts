/**
 * Running the network tools (ip, tc, nft, bpftool, sysctl) for the redirection backends:
 * argument arrays only (never a shell string), optionally inside a network namespace via
 * `nsenter --net=<path>`. nsenter is used rather than `ip netns exec` on purpose: the latter
 * also remounts /sys, which hides /sys/fs/bpf and so every pinned BPF object.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { type Result, ok, err } from "./result.js";

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

/** A network namespace given by name (/run/netns/<name>) or by an absolute path (/proc/<pid>/ns/net). */
export function netnsPath(netns: string): string {
  return netns.startsWith("/") ? netns : path.join("/run/netns", netns);
}

export interface RunOptions {
  /** Run inside this network namespace; undefined: the caller's own. */
  readonly netns?: string;
  /** Data for standard input (nft -f -). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Runs `cmd args...`; a non-zero exit is an error carrying stderr. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Result<CommandOutput, CommandError>> {
  const [file, argv] = opts.netns ? ["nsenter", [`--net=${netnsPath(opts.netns)}`, "--", cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve) => {
    const child = execFile(file, argv, { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      if (e) {
        const code = typeof e.code === "number" ? e.code : null;
        // A command killed by the timeout says so (execFile's own message only repeats the command line).
        const timedOut = e.killed && code === null ? `killed after ${opts.timeoutMs ?? 15_000} ms (timeout)` : "";
        const detail = [stderr.trim(), timedOut].filter(Boolean).join("; ") || e.message;
        resolve(err(new CommandError(`${[cmd, ...args].join(" ")}${opts.netns ? ` (netns ${opts.netns})` : ""}: ${detail}`, code, stderr)));
      } else {
        resolve(ok({ stdout, stderr }));
      }
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs each command in order, stopping at the first failure. */
export async function runAll(
  cmds: ReadonlyArray<readonly [string, readonly string[]]>,
  opts: RunOptions = {},
): Promise<Result<void, CommandError>> {
  for (const [cmd, args] of cmds) {
    const r = await run(cmd, args, opts);
    if (!r.ok) return r;
  }
  return ok(undefined);
}
