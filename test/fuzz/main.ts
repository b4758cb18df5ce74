/**
 * `npm run fuzz -- [--seconds N] [--seed S] [--target a,b] [--iteration I] [--write-seeds]`:
 * a longer fuzz run than CI's (default 60 s over every target, a random seed printed first),
 * the replay of one reported input (`--seed S --target T --iteration I`), or a rewrite of the
 * seed corpus. Exits 1 when an input failed; failing inputs are saved into test/fuzz/corpus.
 */
import { parseArgs } from "node:util";
import { randomInt } from "node:crypto";
import { runSuite } from "./suite.js";
import { writeSeeds } from "./seeds.js";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "60" },
      seed: { type: "string" },
      target: { type: "string" },
      iteration: { type: "string" },
      "write-seeds": { type: "boolean", default: false },
    },
  });
  if (values["write-seeds"]) {
    console.log(`fuzz: wrote ${await writeSeeds()} seed files`);
    return 0;
  }
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`fuzz: --seconds: ${values.seconds} is not a positive number`);
  const seed = values.seed !== undefined ? Number(values.seed) : randomInt(2 ** 31);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`fuzz: --seed: ${values.seed} is not a non-negative integer`);
  const only = values.iteration !== undefined ? Number(values.iteration) : undefined;
  console.log(`fuzz: seed ${seed}${only !== undefined ? `, iteration ${only} only` : `, ${seconds} s`}`);
  const r = await runSuite({
    seed,
    ...(values.target ? { targets: values.target.split(",") } : {}),
    ...(only !== undefined ? { only } : { seconds }),
    log: (l) => console.log(l),
  });
  for (const f of r.failures) console.error(f);
  return r.failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(2);
  },
);
