/**
 * Tearing the Kubernetes test bed down, whether it stopped cleanly or crashed: the same routine
 * runs at stop() and before every start. Everything it touches is identified as the test bed's
 * own, never by a process name:
 *   - processes whose network namespace is a `wtb-*` one or whose mount namespace is a node's
 *     (containerd, kubelet, kube-proxy, shims, the control plane), and every process in a node's
 *     cgroup (the containers, whose namespaces are the pods' own);
 *   - the host-side relay, by the pid file it wrote (checked against its command line);
 *   - the nodes' mount namespace files, the `wtb-*` network namespaces, the `/wtb-*` cgroups, and
 *     the state directories (removed only once no mount is left below them).
 */
import { readdirSync, readFileSync, readlinkSync, rmSync, rmdirSync, statSync, existsSync } from "node:fs";
import path from "node:path";
import { run } from "../../src/common/exec.js";
import { removeNetnsWithPrefix } from "../support/netns.js";
import { PREFIX, RUN_ROOT, STATE_ROOT } from "./topology.js";

export const RELAY_PID_FILE = path.join(RUN_ROOT, "relay.pid");
/** The pid of the process that started the test bed: a live one is never reaped by another. */
export const OWNER_PID_FILE = path.join(RUN_ROOT, "owner.pid");

/** The live owner of a running test bed other than this process, if any. */
export function liveOwner(): number | undefined {
  try {
    const pid = Number(readFileSync(OWNER_PID_FILE, "utf8"));
    if (pid === process.pid || !Number.isInteger(pid)) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
const CGROUP_ROOT = "/sys/fs/cgroup";

/** "net:[4026532]" style links of the test bed's namespaces. */
function testbedNamespaces(): Set<string> {
  const ids = new Set<string>();
  const nsfsDev = statSync("/proc/self/ns/net").dev;
  const add = (kind: "net" | "mnt", file: string): void => {
    try {
      const st = statSync(file);
      if (st.dev === nsfsDev) ids.add(`${kind}:[${st.ino}]`);
    } catch {
      // gone
    }
  };
  for (const n of safeReaddir("/run/netns")) if (n.startsWith(PREFIX)) add("net", path.join("/run/netns", n));
  for (const n of safeReaddir(RUN_ROOT)) add("mnt", path.join(RUN_ROOT, n, "mnt"));
  return ids;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every `<hierarchy>/wtb-*` cgroup directory, deepest first. */
function testbedCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of safeReaddir(dir)) {
      const p = path.join(dir, e);
      try {
        if (statSync(p).isDirectory()) walk(p);
      } catch {
        continue;
      }
    }
    out.push(dir);
  };
  for (const h of safeReaddir(CGROUP_ROOT)) {
    for (const e of safeReaddir(path.join(CGROUP_ROOT, h))) if (e.startsWith(PREFIX)) walk(path.join(CGROUP_ROOT, h, e));
  }
  return out;
}

function testbedPids(): number[] {
  const ns = testbedNamespaces();
  const pids = new Set<number>();
  for (const e of safeReaddir("/proc")) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (ns.has(readlinkSync(`/proc/${pid}/ns/net`)) || ns.has(readlinkSync(`/proc/${pid}/ns/mnt`))) pids.add(pid);
    } catch {
      // exited
    }
  }
  for (const cg of testbedCgroups()) {
    try {
      for (const l of readFileSync(path.join(cg, "cgroup.procs"), "utf8").split("\n")) if (l) pids.add(Number(l));
    } catch {
      // removed meanwhile
    }
  }
  try {
    const pid = Number(readFileSync(RELAY_PID_FILE, "utf8"));
    if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("k8s/relay.js")) pids.add(pid);
  } catch {
    // no relay
  }
  pids.delete(process.pid);
  return [...pids];
}

function mountsBelow(roots: readonly string[]): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => roots.some((r) => m === r || m.startsWith(r + "/")))
    .sort((a, b) => b.length - a.length);
}

/** Removes everything of the test bed. Returns what it found (empty after a clean stop). */
export async function reapTestbed(): Promise<string[]> {
  const owner = liveOwner();
  if (owner !== undefined) {
    throw new Error(`test bed: in use by pid ${owner} (${OWNER_PID_FILE}); run test bed tests under flock /tmp/weft-testbed.lock`);
  }
  const found: string[] = [];
  for (let round = 0; round < 20; round++) {
    const pids = testbedPids();
    if (pids.length === 0) break;
    if (round === 0) found.push(`${pids.length} processes`);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const left = testbedPids();
  if (left.length > 0) throw new Error(`test bed reap: processes ${left.join(", ")} survive SIGKILL`);
  for (const m of mountsBelow([RUN_ROOT, STATE_ROOT])) {
    found.push(`mount ${m}`);
    await run("umount", ["-l", m]);
  }
  for (const ns of await removeNetnsWithPrefix(PREFIX)) found.push(`netns ${ns}`);
  for (const cg of testbedCgroups()) {
    for (let i = 0; ; i++) {
      try {
        rmdirSync(cg);
        break;
      } catch (e) {
        // A killed process leaves its cgroup a moment later.
        if (i >= 50) throw new Error(`test bed reap: cannot remove cgroup ${cg}: ${(e as Error).message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (cg.split("/").length === 6) found.push(`cgroup ${cg}`);
  }
  const stillMounted = mountsBelow([RUN_ROOT, STATE_ROOT]);
  if (stillMounted.length > 0) throw new Error(`test bed reap: still mounted, not removing state: ${stillMounted.join(", ")}`);
  for (const dir of [RUN_ROOT, STATE_ROOT]) {
    if (existsSync(dir)) {
      found.push(`dir ${dir}`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return found;
}
