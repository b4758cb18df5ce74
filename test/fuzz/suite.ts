/**
 * One fuzz run over the chosen targets, shared by CI (fuzz.test.ts: fixed iterations) and the
 * command (`npm run fuzz -- --seconds N`: a time budget split evenly across targets). The live
 * mesh is started only when a live target is chosen, and after the live targets ran it must
 * still be clean and serving (`settle`), which is a failure of its own when it is not.
 */
import { parserTargets } from "./targets-parsers.js";
import { startLiveMesh } from "./targets-live.js";
import { type FuzzTarget, type RunReport, describeFailure, runTarget } from "./runner.js";

export const LIVE_TARGETS = ["hbone-tls", "hbone-h2", "socks5-live", "controlplane-tls", "xds-live", "ca-live"] as const;
export const ALL_TARGETS: readonly string[] = [...parserTargets.map((t) => t.name), ...LIVE_TARGETS];

export interface SuiteOptions {
  readonly seed: number;
  /** Target names; default all. */
  readonly targets?: readonly string[];
  /** Per target: mutated inputs for the in-process parsers and for live listeners. */
  readonly iterations?: { readonly parsers: number; readonly live: number };
  /** Or a total time budget split evenly across the chosen targets. */
  readonly seconds?: number;
  /** Replay one iteration only. */
  readonly only?: number;
  readonly log?: (line: string) => void;
}

export interface SuiteReport {
  readonly reports: RunReport[];
  /** Failures, one line each, with how to replay them; empty when the run was clean. */
  readonly failures: string[];
}

export async function runSuite(o: SuiteOptions): Promise<SuiteReport> {
  const chosen = o.targets ?? ALL_TARGETS;
  const unknown = chosen.filter((t) => !ALL_TARGETS.includes(t));
  if (unknown.length) throw new Error(`fuzz: unknown target ${unknown.join(", ")} (targets: ${ALL_TARGETS.join(", ")})`);
  const log = o.log ?? (() => {});
  const reports: RunReport[] = [];
  const failures: string[] = [];
  const sliceMs = o.seconds ? (o.seconds * 1000) / chosen.length : undefined;
  const run = async (t: FuzzTarget, live: boolean) => {
    const r = await runTarget(t, {
      seed: o.seed,
      ...(o.only !== undefined ? { only: o.only } : {}),
      ...(sliceMs !== undefined ? { deadlineMs: Date.now() + sliceMs } : {}),
      ...(o.iterations ? { iterations: live ? o.iterations.live : o.iterations.parsers } : {}),
    });
    reports.push(r);
    log(
      `fuzz ${r.target}: seed ${r.seed}, ${r.corpusFiles} corpus files + ${r.iterations} mutated inputs in ${r.ms} ms, ${r.failures.length} failures`,
    );
    failures.push(...r.failures.map(describeFailure));
  };
  for (const t of parserTargets) if (chosen.includes(t.name)) await run(t, false);
  if (chosen.some((t) => (LIVE_TARGETS as readonly string[]).includes(t))) {
    const mesh = await startLiveMesh();
    try {
      for (const t of mesh.targets) if (chosen.includes(t.name)) await run(t, true);
      try {
        await mesh.settle();
        log("fuzz live: every connection closed, heap bounded, ztunnels and control plane still serve");
      } catch (e) {
        failures.push(`fuzz live (seed ${o.seed}): after the run: ${(e as Error).message}`);
      }
    } finally {
      await mesh.close();
    }
  }
  return { reports, failures };
}
