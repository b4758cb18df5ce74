import { it } from "node:test";
import assert from "node:assert/strict";
import { formatInvalid } from "./invalid.js";

const cases: Array<[Parameters<typeof formatInvalid>[0], string]> = [
  [
    { origin: { source: "/c/a.yaml:3 (document 1)" }, object: "Pod shop/web", field: "spec.portz", reason: "unknown field" },
    "Pod shop/web: spec.portz: unknown field (at /c/a.yaml:3 (document 1))",
  ],
  [
    { origin: { source: "/c/a.yaml:9 (document 2)" }, field: "", reason: "invalid YAML: x" },
    "invalid YAML: x (at /c/a.yaml:9 (document 2))",
  ],
];
for (const [p, want] of cases) void it(`formats ${want.slice(0, 30)}...`, () => assert.equal(formatInvalid(p), want));
