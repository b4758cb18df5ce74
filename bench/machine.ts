/**
 * What the figures were measured on, for the report: CPU, memory, kernel, the versions of the
 * peers and tools, and the git commit of the tree. Every probe is best-effort ("unknown" when a
 * tool is missing); none of them fails the run.
 */
import { cpus, loadavg, release, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { runSync } from "./proc.js";

export interface MachineInfo {
  readonly date: string;
  readonly cpu: string;
  readonly cpuCount: number;
  readonly memoryGb: number;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  readonly stunnel: string;
  readonly openssl: string;
  readonly iperf3: string;
  readonly commit: string;
  /** 1-minute load average when the run started: a busy machine makes every figure noisier. */
  readonly loadAtStart: number;
}

function firstLine(cmd: string, args: string[], pattern?: RegExp): string {
  const r = runSync("sh", ["-c", `${cmd} ${args.join(" ")} 2>&1`], 5000);
  if (!r.ok) return "unknown";
  const lines = r.value.split("\n");
  const line = pattern ? lines.find((l) => pattern.test(l)) : lines[0];
  return line?.trim() || "unknown";
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"));
    return m?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  const dirty = runSync("git", ["status", "--porcelain", "--untracked-files=no"], 5000);
  const commit = runSync("git", ["rev-parse", "--short", "HEAD"], 5000);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: c[0]?.model ?? "unknown",
    cpuCount: c.length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    os: osName(),
    node: process.version,
    stunnel: firstLine("stunnel4", ["-version"], /^stunnel \d/).replace(/ on .*/, ""),
    openssl: firstLine("openssl", ["version"]),
    iperf3: firstLine("iperf3", ["--version"]).replace(/ \(cJSON.*\)/, ""),
    loadAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    commit: commit.ok ? `${commit.value.trim()}${dirty.ok && dirty.value.trim() !== "" ? " (with uncommitted changes)" : ""}` : "unknown",
  };
}
