/**
 * The fuzz loop and its process-wide oracle. For one target: replay every corpus file, then
 * mutate corpus entries (mutate.ts) until an iteration count or a deadline is reached. An input
 * fails when the target's own check throws (a decoder's exception escaping, a wrong Result, a
 * listener that neither answered nor closed in time), when it takes longer than the watchdog,
 * or when an uncaught exception, an unhandled rejection or a process warning surfaces while it
 * runs. A failing input is
 * saved as a new corpus file (`crash-<seed>-<iteration>.bin`) and named with the seed and
 * iteration that made it, so `npm run fuzz -- --target T --seed S --iteration I` replays it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { iterationRng, mutate } from "./mutate.js";

/** Where the checked-in seed corpus lives (the source tree, also when running from dist/). */
export const CORPUS_ROOT = path.resolve(__dirname, "../../../test/fuzz/corpus");

export interface FuzzTarget {
  readonly name: string;
  /** The corpus folder (test/fuzz/corpus/<corpus>); default `name`. */
  readonly corpus?: string;
  /** Inputs are cut to this many bytes. */
  readonly maxLen: number;
  readonly dictionary?: readonly string[];
  /** Watchdog per input: longer is a hang. */
  readonly watchdogMs: number;
  /** Checks one input; throws on an oracle violation. */
  run(input: Buffer): Promise<void> | void;
}

export interface Failure {
  readonly target: string;
  readonly seed: number;
  /** -1 for a corpus file replay. */
  readonly iteration: number;
  readonly reason: string;
  /** The saved input (undefined when saving is off or the input was a corpus file already). */
  readonly file?: string;
  readonly source?: string;
}

export interface RunOptions {
  readonly seed: number;
  /** Mutated inputs after the corpus replay (default: unbounded, then `deadlineMs` must be set). */
  readonly iterations?: number;
  /** Stop mutating at this time (Date.now() value). */
  readonly deadlineMs?: number;
  /** Run only this iteration (replay of a reported failure); no corpus replay. */
  readonly only?: number;
  /** Save failing inputs into the corpus (default true). */
  readonly save?: boolean;
  /** Stop the target at its first failure (default true). */
  readonly stopAtFirst?: boolean;
}

export interface RunReport {
  readonly target: string;
  readonly seed: number;
  readonly corpusFiles: number;
  readonly iterations: number;
  readonly ms: number;
  readonly failures: Failure[];
}

export function loadCorpus(target: string): { name: string; bytes: Buffer }[] {
  const dir = path.join(CORPUS_ROOT, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, bytes: readFileSync(path.join(dir, name)) }));
}

function saveInput(target: string, seed: number, iteration: number, input: Buffer): string {
  const dir = path.join(CORPUS_ROOT, target);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `crash-${seed}-${iteration}.bin`);
  writeFileSync(file, input);
  return file;
}

/** Uncaught exceptions and unhandled rejections while `f` runs, as strings. */
async function guarded(f: () => Promise<void> | void, watchdogMs: number): Promise<string | undefined> {
  const escaped: string[] = [];
  const onError = (e: unknown) => escaped.push(`uncaught: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  const onRejection = (e: unknown) => escaped.push(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  // A process warning from an input (e.g. a library's "will be stringified") is a finding too.
  const onWarning = (w: Error) => escaped.push(`process warning: ${w.name}: ${w.message}`);
  process.on("uncaughtException", onError);
  process.on("unhandledRejection", onRejection);
  process.on("warning", onWarning);
  let timer: NodeJS.Timeout | undefined;
  try {
    const watchdog = new Promise<string>(
      (resolve) => (timer = setTimeout(() => resolve(`hang: no verdict within ${watchdogMs} ms`), watchdogMs)),
    );
    const verdict = await Promise.race([
      Promise.resolve()
        .then(f)
        .then(
          () => undefined,
          (e: unknown) => (e instanceof Error ? (e.stack ?? e.message) : String(e)),
        ),
      watchdog,
    ]);
    // Let rejections created by this input surface before it is judged.
    await new Promise((r) => setImmediate(r));
    return verdict ?? escaped[0];
  } finally {
    clearTimeout(timer);
    process.off("uncaughtException", onError);
    process.off("unhandledRejection", onRejection);
    process.off("warning", onWarning);
  }
}

export async function runTarget(t: FuzzTarget, o: RunOptions): Promise<RunReport> {
  const started = Date.now();
  const failures: Failure[] = [];
  const corpus = loadCorpus(t.corpus ?? t.name);
  const pool = corpus.map((c) => c.bytes);
  const stop = () => (o.stopAtFirst ?? true) && failures.length > 0;
  if (o.only === undefined) {
    for (const c of corpus) {
      const reason = await guarded(() => t.run(c.bytes), t.watchdogMs);
      if (reason) failures.push({ target: t.name, seed: o.seed, iteration: -1, reason, source: c.name });
      if (stop()) break;
    }
  }
  let i = o.only ?? 0;
  let done = 0;
  const more = () =>
    !stop() &&
    (o.only !== undefined
      ? done < 1
      : (o.iterations === undefined || done < o.iterations) && (o.deadlineMs === undefined || Date.now() < o.deadlineMs));
  if (o.iterations === undefined && o.deadlineMs === undefined && o.only === undefined)
    throw new Error("fuzz: iterations or a deadline is required");
  while (more()) {
    const input = mutate(pool, iterationRng(o.seed, i), { maxLen: t.maxLen, ...(t.dictionary ? { dictionary: t.dictionary } : {}) });
    const reason = await guarded(() => t.run(input), t.watchdogMs);
    if (reason) {
      const file = o.save === false ? undefined : saveInput(t.corpus ?? t.name, o.seed, i, input);
      failures.push({ target: t.name, seed: o.seed, iteration: i, reason, ...(file ? { file } : {}) });
    }
    i++;
    done++;
  }
  return { target: t.name, seed: o.seed, corpusFiles: corpus.length, iterations: done, ms: Date.now() - started, failures };
}

/** One line per failure: what to run to see it again. */
export function describeFailure(f: Failure): string {
  const where =
    f.iteration < 0
      ? `corpus file ${f.source}`
      : `seed ${f.seed} iteration ${f.iteration} (npm run fuzz -- --target ${f.target} --seed ${f.seed} --iteration ${f.iteration})`;
  return `fuzz ${f.target}: ${where}${f.file ? `, saved as ${path.relative(process.cwd(), f.file)}` : ""}: ${f.reason}`;
}
