/**
 * The policy routing both backends share: packets carrying the capture mark are looked up in a
 * table whose only routes are `local 0.0.0.0/0 dev lo` and `local ::/0 dev lo`, so the kernel
 * delivers them to the local socket they were assigned to (eBPF) or tproxied to (nftables),
 * whatever their destination. One rule and one route per family, same priority and table.
 * Installed only in the node namespace given by the config.
 *
 * IPv6 is optional: a node namespace with IPv6 disabled (no `ip -6` routing) gets the IPv4 half
 * only, reported as `ipv6: false`, and the backends then refuse to enroll IPv6 addresses
 * (failing closed rather than letting a pod's IPv6 traffic pass uncaptured).
 */
import { type Result, ok, err } from "../common/result.js";
import type { NodeCapture } from "./backend.js";
import { run } from "../common/exec.js";
import { logger } from "../common/log.js";

const log = logger("capture.routing");

type Family = "-4" | "-6";
const FAMILIES: readonly Family[] = ["-4", "-6"];
const ANY: Record<Family, string> = { "-4": "0.0.0.0/0", "-6": "::/0" };

function opts(node: NodeCapture): { netns?: string } {
  return node.netns ? { netns: node.netns } : {};
}

/** weft's rule: priority, capture mark and table, as added and as deleted (only that rule, nothing else at its priority). */
function ruleArgs(node: NodeCapture): string[] {
  const m = node.marks;
  const mark = `0x${m.capture.toString(16)}/0x${m.mask.toString(16)}`;
  return ["pref", String(node.rulePriority), "fwmark", mark, "lookup", String(node.routeTable)];
}

/** Removes every copy of weft's rule (ip rule add does not deduplicate) and flushes its table, both families. */
export async function removeCaptureRouting(node: NodeCapture): Promise<Result<string[]>> {
  const removed: string[] = [];
  for (const f of FAMILIES) {
    for (let i = 0; i < 64; i++) {
      const r = await run("ip", [f, "rule", "del", ...ruleArgs(node)], opts(node));
      if (!r.ok) break;
      removed.push(`ip ${f} rule pref ${node.rulePriority}`);
    }
    const shown = await run("ip", [f, "route", "show", "table", String(node.routeTable)], opts(node));
    if (shown.ok && shown.value.stdout.trim()) {
      const fl = await run("ip", [f, "route", "flush", "table", String(node.routeTable)], opts(node));
      if (!fl.ok) return err(fl.error);
      removed.push(`ip ${f} route table ${node.routeTable}`);
    }
  }
  return ok(removed);
}

async function installFamily(node: NodeCapture, f: Family): Promise<Result<void>> {
  const route = await run("ip", [f, "route", "replace", "local", ANY[f], "dev", "lo", "table", String(node.routeTable)], opts(node));
  if (!route.ok) return err(route.error);
  const rule = await run("ip", [f, "rule", "add", ...ruleArgs(node)], opts(node));
  return rule.ok ? ok(undefined) : err(rule.error);
}

/** Installs both families; `ipv6: false` when the namespace has IPv6 disabled (IPv4 capture still works). */
export async function installCaptureRouting(node: NodeCapture): Promise<Result<{ readonly ipv6: boolean }>> {
  const cleared = await removeCaptureRouting(node);
  if (!cleared.ok) return cleared;
  const v4 = await installFamily(node, "-4");
  if (!v4.ok) {
    await removeCaptureRouting(node);
    return v4;
  }
  const v6 = await installFamily(node, "-6");
  if (!v6.ok) {
    if (!ipv6Unavailable(v6.error)) {
      await removeCaptureRouting(node);
      return v6;
    }
    // Whatever half of IPv6 got in goes; the IPv4 half is put back, and its failure is the caller's error.
    const cleared = await removeCaptureRouting(node);
    if (!cleared.ok) return cleared;
    const again = await installFamily(node, "-4");
    if (!again.ok) return again;
    log.warn(
      { netns: node.netns, err: v6.error.message },
      "IPv6 is disabled in the node namespace: only IPv4 pod addresses can be captured",
    );
    return ok({ ipv6: false });
  }
  return ok({ ipv6: true });
}

/** `ip -6` failing because the namespace (or the kernel) has no IPv6. */
export function ipv6Unavailable(e: Error & { stderr?: string }): boolean {
  return /address family not supported|ipv6 is disabled|permission denied.*ipv6/i.test(`${e.message} ${e.stderr ?? ""}`);
}

export async function showCaptureRouting(node: NodeCapture): Promise<string> {
  const out: string[] = [];
  for (const f of FAMILIES) {
    const rules = await run("ip", [f, "rule", "show", "pref", String(node.rulePriority)], opts(node));
    const table = await run("ip", [f, "route", "show", "table", String(node.routeTable)], opts(node));
    out.push(`${rules.ok ? rules.value.stdout : ""}${table.ok ? table.value.stdout : ""}`);
  }
  return out.join("").trim();
}
