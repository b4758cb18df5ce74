import { test } from "node:test";
import assert from "node:assert/strict";
import { parse as yamlParse } from "yaml";
import { firstDuplicateKey, parseConfigText } from "./config-text.js";

// Every case through both paths: the JSON fast path must give what yaml gives, or refuse what yaml refuses.
const cases: ReadonlyArray<[name: string, text: string, dup?: { key: string; path: string }]> = [
  ["object", `{"a": 1, "b": [1, 2, {"c": "x"}], "d": null, "e": true, "f": -1.5e3}`],
  ["leading whitespace and newlines", `\n  {\n "a": {"b": {"c": [[], {}]}}\n}\n`],
  ["array at the top", `[{"a": 1}, {"a": 2}]`],
  ["same key in sibling objects is fine", `{"w": [{"name": "a"}, {"name": "b"}], "s": {"name": "c"}}`],
  ["escapes in keys and values", `{"a\\"b": "c\\\\", "\\u0061": 1, "x,y": "{[", "": 0}`],
  ["duplicate at the top", `{"workloads": [], "services": [], "workloads": [1]}`, { key: "workloads", path: "" }],
  [
    "duplicate in a nested object",
    `{"workloads": [{"uid": "a"}, {"uid": "b", "labels": {"x": "1", "x": "2"}}]}`,
    { key: "x", path: "workloads[1].labels" },
  ],
  ["duplicate spelled with an escape", `{"node": "a", "n\\u006fde": "b"}`, { key: "node", path: "" }],
  ["duplicate after a nested object with that key", `{"a": {"a": 1}, "b": 2, "a": 3}`, { key: "a", path: "" }],
];

for (const [name, text, dup] of cases) {
  test(`parseConfigText, JSON: ${name}`, () => {
    assert.deepEqual(firstDuplicateKey(text), dup);
    if (dup) {
      assert.throws(() => yamlParse(text), /unique/, "yaml accepts it: the case is wrong");
      assert.throws(() => parseConfigText(text), {
        message: `duplicate key ${JSON.stringify(dup.key)} in ${dup.path || "the top-level object"}`,
      });
    } else assert.deepEqual(parseConfigText(text), yamlParse(text));
  });
}

test("parseConfigText: YAML, and JSON-looking YAML that JSON.parse refuses, go to yaml", () => {
  assert.deepEqual(parseConfigText("node: a\nworkloads:\n  - uid: x\n"), { node: "a", workloads: [{ uid: "x" }] });
  assert.deepEqual(parseConfigText("{a: 1, b: [x]}"), { a: 1, b: ["x"] });
  assert.throws(() => parseConfigText("a: 1\na: 2\n"), /unique/);
  assert.throws(() => parseConfigText("{a: 1, a: 2}"), /unique/);
  assert.equal(parseConfigText(""), null);
});
