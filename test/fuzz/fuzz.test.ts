/**
 * The fuzz run of `npm test`: every corpus file replayed, then a fixed number of mutated inputs
 * per target (3,000 for each in-process parser, 1,000 for each live listener) from a fixed seed,
 * so CI is bounded (about 20 s on the shared 2-CPU machine) and any failure reproduces exactly.
 * WEFT_FUZZ_SEED=<n> picks another seed. The mutator's own determinism is checked first.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { iterationRng, mutate } from "./mutate.js";
import { runSuite } from "./suite.js";

const SEED = process.env.WEFT_FUZZ_SEED ? Number(process.env.WEFT_FUZZ_SEED) : 20261202;

test("fuzz: the same seed and iteration give the same input", () => {
  const corpus = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80])];
  for (let i = 0; i < 50; i++) {
    const a = mutate(corpus, iterationRng(SEED, i), { maxLen: 1024 });
    const b = mutate(corpus, iterationRng(SEED, i), { maxLen: 1024 });
    assert.deepEqual(a, b);
  }
  assert.notDeepEqual(mutate(corpus, iterationRng(1, 0), { maxLen: 1024 }), mutate(corpus, iterationRng(2, 0), { maxLen: 1024 }));
});

test(`fuzz: parsers, decoders and live listeners (seed ${SEED})`, { timeout: 240_000 }, async () => {
  const r = await runSuite({ seed: SEED, iterations: { parsers: 3000, live: 1000 }, log: (l) => console.log(l) });
  assert.deepEqual(r.failures, [], r.failures.join("\n"));
});
