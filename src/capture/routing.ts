/**
 * The policy routing both backends share: packets carrying the capture mark are looked up in a
 * table whose only route is `local 0.0.0.0/0 dev lo`, so the kernel delivers them to the local
 * socket they were assigned to (eBPF) or tproxied to (nftables), whatever their destination.
 * Installed only in the node namespace given by the config.
 */
import { type Result, ok, err } from "../common/result.js";
import type { NodeCapture } from "./backend.js";
import { run } from "../common/exec.js";

function opts(node: NodeCapture): { netns?: string } {
  return node.netns ? { netns: node.netns } : {};
}

/** Removes every rule at our priority (ip rule add does not deduplicate) and flushes the table. */
export async function removeCaptureRouting(node: NodeCapture): Promise<Result<string[]>> {
  const removed: string[] = [];
  for (let i = 0; i < 64; i++) {
    const r = await run("ip", ["-4", "rule", "del", "pref", String(node.rulePriority)], opts(node));
    if (!r.ok) break;
    removed.push(`ip rule pref ${node.rulePriority}`);
  }
  const shown = await run("ip", ["-4", "route", "show", "table", String(node.routeTable)], opts(node));
  if (shown.ok && shown.value.stdout.trim()) {
    const f = await run("ip", ["-4", "route", "flush", "table", String(node.routeTable)], opts(node));
    if (!f.ok) return err(f.error);
    removed.push(`ip route table ${node.routeTable}`);
  }
  return ok(removed);
}

export async function installCaptureRouting(node: NodeCapture): Promise<Result<void>> {
  const cleared = await removeCaptureRouting(node);
  if (!cleared.ok) return cleared;
  const m = node.marks;
  const route = await run(
    "ip",
    ["-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", String(node.routeTable)],
    opts(node),
  );
  if (!route.ok) return err(route.error);
  const rule = await run(
    "ip",
    [
      "-4",
      "rule",
      "add",
      "pref",
      String(node.rulePriority),
      "fwmark",
      `0x${m.capture.toString(16)}/0x${m.mask.toString(16)}`,
      "lookup",
      String(node.routeTable),
    ],
    opts(node),
  );
  if (!rule.ok) {
    await removeCaptureRouting(node);
    return err(rule.error);
  }
  return ok(undefined);
}

export async function showCaptureRouting(node: NodeCapture): Promise<string> {
  const rules = await run("ip", ["-4", "rule", "show", "pref", String(node.rulePriority)], opts(node));
  const table = await run("ip", ["-4", "route", "show", "table", String(node.routeTable)], opts(node));
  return `${rules.ok ? rules.value.stdout : ""}${table.ok ? table.value.stdout : ""}`.trim();
}
