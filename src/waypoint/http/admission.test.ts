import { test } from "node:test";
import assert from "node:assert/strict";
import { outcomeOf } from "./admission.js";

test("admission: what outlier detection sees of a finished exchange", () => {
  const cases: [number, string, unknown][] = [
    [200, "", { kind: "status", status: 200 }],
    [503, "", { kind: "status", status: 503 }],
    [503, "UF", { kind: "local", failure: "connect" }],
    [503, "UR", { kind: "local", failure: "reset" }],
    [503, "UC", { kind: "local", failure: "reset" }],
    [504, "UT", { kind: "local", failure: "timeout" }],
    [502, "UPE", { kind: "status", status: 502 }],
    [0, "DC", undefined],
    [503, "UO", undefined],
    [0, "", undefined],
  ];
  for (const [status, flags, want] of cases) assert.deepEqual(outcomeOf(status, flags), want, `${status} ${flags}`);
});
