import { test } from "node:test";
import assert from "node:assert/strict";
import { productionFilter } from "./weft-images.js";

const keep = productionFilter(["a", "@s/b", "c/node_modules/d"], ["a", "@s/b", "@s/dev", "c", "c/node_modules/d", "dev"]);

for (const [rel, isDir, want] of [
  ["a", true, true],
  ["a/index.js", false, true],
  ["a/index.d.ts", false, false],
  ["a/README.md", false, false],
  ["a/LICENSE.md", false, true],
  ["a/lib/x.js.map", false, false],
  ["dev", true, false],
  ["dev/index.js", false, false],
  ["@s", true, true],
  ["@s/dev", true, false],
  ["@s/b/x.js", false, true],
  // c is dev-only but holds a production package: its directory stays, its own files go.
  ["c", true, true],
  ["c/index.js", false, false],
  ["c/node_modules/d/x.js", false, true],
  [".bin", true, false],
  ["a/.bin", true, false],
  ["a/x.proto", false, true],
] as const) {
  test(`production node_modules filter: ${rel} ${want ? "kept" : "dropped"}`, () => {
    assert.equal(keep(rel, isDir), want);
  });
}
