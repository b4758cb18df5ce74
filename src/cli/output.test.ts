import { test } from "node:test";
import assert from "node:assert/strict";
import { age, render, table } from "./output.js";

const cols = [
  { header: "NAME", value: (r: { n: string; ip: string }) => r.n },
  { header: "IP", value: (r: { n: string; ip: string }) => r.ip, wide: true },
  { header: "STATUS", value: () => "ok" },
];

test("table pads columns, hides wide-only ones, and shows - for empty cells", () => {
  assert.equal(
    table(
      [
        { n: "a-long-name", ip: "" },
        { n: "b", ip: "10.0.0.1" },
      ],
      cols,
    ),
    "NAME          STATUS\na-long-name   ok\nb             ok\n",
  );
  assert.equal(table([{ n: "a", ip: "" }], cols, true), "NAME   IP   STATUS\na      -    ok\n");
});

test("render: json and yaml carry the data, an empty table says so", () => {
  assert.equal(render("json", [{ n: "a", ip: "1" }], cols), '[\n  {\n    "n": "a",\n    "ip": "1"\n  }\n]\n');
  assert.equal(render("yaml", [{ n: "a", ip: "1" }], cols), '- n: a\n  ip: "1"\n');
  assert.equal(render("table", [], cols), "No resources found.\n");
  assert.equal(render("json", [], cols, { m: new Map([["k", 1]]) }), '{\n  "m": {\n    "k": 1\n  }\n}\n');
});

test("age follows kubectl's units", () => {
  for (const [ms, want] of [
    [5_000, "5s"],
    [300_000, "5m"],
    [3 * 3600_000, "3h"],
    [3 * 86400_000, "3d"],
    [-1, "-"],
  ] as const)
    assert.equal(age(ms), want);
});
