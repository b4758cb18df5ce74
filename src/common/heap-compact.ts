/**
 * Gives the start-up garbage back to the OS once a long-running component is ready.
 *
 * Loading a component's ~600-950 modules and, for a waypoint, parsing Envoy's descriptors lets
 * V8 grow the young generation to its ceiling (two 8-16 MB semi-spaces with
 * `--max-semi-space-size=16`, src/common/node-flags.ts) and leaves old-space pages committed:
 * most of what start-up allocates survives, so the nursery grows, and neither V8's memory
 * reducer nor a normal full GC shrinks it again (docs/hbone.md, "Memory pass 3"). A
 * "last resort" collection (V8's CollectAllAvailableGarbage, the one it runs before an
 * out-of-memory error) does: it shrinks the new space to its minimum and releases the pooled
 * pages. Measured on an idle waypoint: RSS 128-135 MB -> 90-97 MB; on an idle ztunnel -20 MB.
 * It costs one pause of ~50-90 ms, once, right after readiness, when no traffic flows yet.
 *
 * The collection is reached through V8's gc extension (`--expose-gc`): the launcher's flag if
 * given, otherwise the flag is set for one new context only (`vm`), which is how Node's own
 * tests reach it; the main context gets no `gc` global. Under load the nursery grows back to
 * what the traffic needs (the semi-space ceiling is unchanged), so throughput is not traded.
 *
 * Process-wide: only entry points (src/cli) call it, never a component that may share a
 * process with others (tests run several in one).
 */
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "./log.js";
import { type Result, ok, err } from "./result.js";

/** V8's gc extension function (`gc(options)`, see v8/src/extensions/gc-extension.cc). */
type GcFunction = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/** What one compaction did: resident memory before and after (KB, /proc/self/status) and the pause. */
export interface CompactReport {
  readonly rssBeforeKb: number;
  readonly rssAfterKb: number;
  readonly pauseMs: number;
}

let gcFn: GcFunction | undefined;

function gcFunction(): Result<GcFunction> {
  if (gcFn) return ok(gcFn);
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === "function") return ok((gcFn = exposed as GcFunction));
  try {
    setFlagsFromString("--expose-gc");
    const fn: unknown = runInNewContext("gc");
    setFlagsFromString("--no-expose-gc");
    if (typeof fn !== "function") return err(new Error("heap compaction: V8's gc extension is not available in this runtime"));
    return ok((gcFn = fn as GcFunction));
  } catch (e) {
    return err(new Error(`heap compaction: cannot reach V8's gc extension: ${(e as Error).message}`, { cause: e }));
  }
}

/** VmRSS of this process in KB, or 0 where /proc is not available. */
export function residentKb(): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Runs V8's last-resort full collection now (synchronously) and reports what it gave back. */
export function compactHeap(): Result<CompactReport> {
  const gc = gcFunction();
  if (!gc.ok) return gc;
  const rssBeforeKb = residentKb();
  const t0 = process.hrtime.bigint();
  gc.value({ type: "major", execution: "sync", flavor: "last-resort" });
  const pauseMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return ok({ rssBeforeKb, rssAfterKb: residentKb(), pauseMs });
}

export interface CompactWhenReadyOptions {
  /** How often readiness is checked (default 500 ms). */
  readonly pollMs?: number;
  /** Wait this long after readiness before compacting, so the first config's follow-up work is done (default 1 s). */
  readonly settleMs?: number;
  /** Stop waiting after this long without readiness (default 10 min). */
  readonly giveUpMs?: number;
}

/** One log line per compaction: info with the figures, debug when the runtime has no gc extension. */
export function logCompaction(log: Logger, r: Result<CompactReport>): void {
  if (!r.ok) log.debug({ err: r.error.message }, "heap not compacted after start-up");
  else {
    const { rssBeforeKb, rssAfterKb, pauseMs } = r.value;
    log.info({ rssBeforeKb, rssAfterKb, pauseMs: Math.round(pauseMs) }, "heap compacted after start-up");
  }
}

/**
 * Compacts once, `settleMs` after `isReady()` first returns true; `done` gets the outcome
 * (default: one log line on `log`). The timers are unref'd (they never keep the process alive).
 * Returns a function that cancels.
 */
export function compactWhenReady(
  isReady: () => boolean,
  log: Logger,
  opts: CompactWhenReadyOptions & { readonly done?: (r: Result<CompactReport>) => void } = {},
): () => void {
  const done = opts.done ?? ((r: Result<CompactReport>) => logCompaction(log, r));
  const pollMs = opts.pollMs ?? 500;
  const settleMs = opts.settleMs ?? 1000;
  const deadline = Date.now() + (opts.giveUpMs ?? 600_000);
  let timer: NodeJS.Timeout | undefined;
  const arm = (fn: () => void, ms: number): void => {
    timer = setTimeout(fn, ms);
    timer.unref();
  };
  const poll = (): void => {
    if (isReady()) arm(() => done(compactHeap()), settleMs);
    else if (Date.now() < deadline) arm(poll, pollMs);
  };
  arm(poll, 0);
  return () => clearTimeout(timer);
}
