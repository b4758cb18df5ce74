/**
 * Running a CNI network configuration list the way a container runtime does (libcni's
 * AddNetworkList / DelNetworkList): each plugin binary, found by its `type` in CNI_PATH, is
 * executed with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH in
 * its environment and its configuration (the list's cniVersion and name, the plugin's keys and,
 * after the first, `prevResult`) on stdin; executed inside the node's network namespace, which
 * is the "host" side for the plugins.
 *
 * ADD stops at the first failing plugin and then runs DEL for the whole list (libcni does the
 * same), so a failed pod leaves nothing behind. DEL runs the plugins in reverse order with the
 * cached ADD result as prevResult and keeps going on errors (DEL must be idempotent); the
 * errors are returned together.
 */
import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import * as path from "node:path";
import { type Result, ok, err } from "../common/result.js";
import { netnsPath } from "../common/exec.js";

export interface ConfList {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly Record<string, unknown>[];
}

export interface CniRuntimeArgs {
  readonly containerId: string;
  /** Path of the pod's network namespace. */
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAMESPACE. */
  readonly args: Readonly<Record<string, string>>;
  /** Directories searched for plugin binaries, in order. */
  readonly cniPath: readonly string[];
  /** The node's network namespace (name or path), where the plugins run. */
  readonly hostNetns: string;
}

export type CniResult = Record<string, unknown> & {
  readonly ips?: readonly { readonly address: string; readonly interface?: number; readonly gateway?: string }[];
  readonly interfaces?: readonly { readonly name: string; readonly sandbox?: string }[];
};

async function findPlugin(type: string, dirs: readonly string[]): Promise<string | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) return undefined;
  for (const d of dirs) {
    const p = path.join(d, type);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next directory */
    }
  }
  return undefined;
}

function exec(command: string, conf: Record<string, unknown>, binary: string, a: CniRuntimeArgs): Promise<Result<string>> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: a.containerId,
    CNI_NETNS: a.netns,
    CNI_IFNAME: a.ifname,
    CNI_ARGS: Object.entries(a.args)
      .map(([k, v]) => `${k}=${v}`)
      .join(";"),
    CNI_PATH: a.cniPath.join(":"),
  };
  return new Promise((resolve) => {
    const child = execFile(
      "nsenter",
      [`--net=${netnsPath(a.hostNetns)}`, "--", binary],
      { env, timeout: 30_000, maxBuffer: 4 << 20 },
      (e, stdout, stderr) => {
        if (!e) return resolve(ok(stdout));
        let msg = stderr.trim() || e.message;
        try {
          const doc = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
          if (doc.msg) msg = `code ${doc.code}: ${doc.msg}${doc.details ? ` (${doc.details})` : ""}`;
        } catch {
          /* not an error document */
        }
        resolve(err(new Error(`cni ${command} ${conf.type as string}: ${msg}`)));
      },
    );
    child.stdin?.end(JSON.stringify(conf));
  });
}

function confFor(list: ConfList, plugin: Record<string, unknown>, prev: CniResult | undefined): Record<string, unknown> {
  return { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(prev ? { prevResult: prev } : {}) };
}

export async function cniAdd(list: ConfList, a: CniRuntimeArgs): Promise<Result<CniResult>> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    const type = String(plugin.type ?? "");
    const bin = await findPlugin(type, a.cniPath);
    let failure: Error | undefined;
    if (!bin) failure = new Error(`cni ADD: plugin ${JSON.stringify(type)} not found in ${a.cniPath.join(":")}`);
    else {
      const out = await exec("ADD", confFor(list, plugin, prev), bin, a);
      if (!out.ok) failure = out.error;
      else {
        try {
          prev = JSON.parse(out.value) as CniResult;
        } catch {
          failure = new Error(`cni ADD ${type}: result is not JSON: ${out.value.slice(0, 200)}`);
        }
      }
    }
    if (failure) {
      await cniDel(list, a, prev);
      return err(failure);
    }
  }
  if (!prev) return err(new Error("cni ADD: the list has no plugins"));
  return ok(prev);
}

export async function cniDel(list: ConfList, a: CniRuntimeArgs, cached: CniResult | undefined): Promise<Result<void>> {
  const errors: string[] = [];
  for (const plugin of [...list.plugins].reverse()) {
    const type = String(plugin.type ?? "");
    const bin = await findPlugin(type, a.cniPath);
    if (!bin) {
      errors.push(`plugin ${type} not found`);
      continue;
    }
    const out = await exec("DEL", confFor(list, plugin, cached), bin, a);
    if (!out.ok) errors.push(out.error.message);
  }
  return errors.length ? err(new Error(errors.join("; "))) : ok(undefined);
}
