/**
 * Setting a sysctl of the node's network namespace for a redirection backend. Two ways:
 * - `sysctl -qw key=value`, inside `node.netns` when one is given (weft local, tests);
 * - when `node.procSysDir` is set, by writing `<procSysDir>/<key as a path>` directly: a
 *   container's own /proc/sys is read-only unless it runs privileged, so the CNI agent's
 *   DaemonSet mounts the node's /proc/sys/net elsewhere (docs/kubernetes.md). A net sysctl file
 *   acts on the network namespace of the process that writes it, so this needs the agent to
 *   run in the node's namespace (hostNetwork): node-config.ts refuses it together with netns.
 */
import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { type Result, ok, err } from "../common/result.js";
import { run } from "../common/exec.js";
import type { NodeCapture } from "./backend.js";

/** `net.ipv4.conf.veth0.accept_local` -> `net/ipv4/conf/veth0/accept_local` (key parts hold no dots: IFNAME is checked). */
export function sysctlPath(procSysDir: string, key: string): string {
  return path.join(procSysDir, ...key.split("."));
}

export async function setSysctl(
  node: Pick<NodeCapture, "netns" | "procSysDir">,
  key: string,
  value: string | number,
): Promise<Result<void>> {
  if (node.procSysDir === undefined) {
    const r = await run("sysctl", ["-qw", `${key}=${value}`], node.netns !== undefined ? { netns: node.netns } : {});
    return r.ok ? ok(undefined) : r;
  }
  const file = sysctlPath(node.procSysDir, key);
  try {
    await writeFile(file, `${value}\n`);
    return ok(undefined);
  } catch (e) {
    return err(new Error(`sysctl ${key}=${value}: writing ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
  }
}
