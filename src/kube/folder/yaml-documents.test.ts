import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describePosition, isConfigFileName, parseConfigText } from "./yaml-documents.js";

void describe("parseConfigText", () => {
  void it("reads every document with its index and starting line, skipping empty ones", () => {
    const r = parseConfigText("# header\na: 1\n---\n---\n# only a comment\n---\nb: 2\n");
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((o) => [o.value, o.document, o.line]),
      [
        [{ a: 1 }, 0, 2],
        [{ b: 2 }, 3, 7],
      ],
    );
  });

  void it("expands a List into its items, each with its own line", () => {
    const text = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n  n: 1\n- kind: B\n";
    const r = parseConfigText(text);
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((o) => [o.value, o.item, o.line]),
      [
        [{ kind: "A", n: 1 }, "items[0]", 4],
        [{ kind: "B" }, "items[1]", 6],
      ],
    );
  });

  void it("reads JSON", () => {
    const r = parseConfigText('{"kind": "PodList", "items": [{"kind": "Pod"}]}');
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((o) => o.value),
      [{ kind: "Pod" }],
    );
  });

  const broken: Array<[string, string, number, number, RegExp]> = [
    ["an unclosed flow sequence (reported where the parser gave up)", "a: 1\n---\nb: [1,\n", 1, 4, /invalid YAML/],
    ["a duplicate key", "a: 1\na: 2\n", 0, 2, /invalid YAML/],
    ["bad indentation", "a:\n  b: 1\n c: 2\n", 0, 3, /invalid YAML/],
    // Found by the fuzzer (test/fuzz): the yaml library stringified these keys with a process warning.
    ["a flow-sequence key", "kind: A\nspec: { [a, b]: 1 }\n", 0, 2, /mapping key must be a string/],
    ["an explicit map key", "kind: A\n---\nx: 1\n? { a: 1 }\n: 2\n", 1, 4, /mapping key must be a string/],
    ["an alias to a list as a key", "a: &l [1]\n*l : 2\n", 0, 2, /mapping key must be a string/],
    ["a binary key", "kind: A\nspec: { !!binary aGk=: 1 }\n", 0, 2, /mapping key must be a string/],
  ];
  for (const [name, text, document, line, reason] of broken) {
    void it(`fails the whole file on ${name}, naming document and line`, () => {
      const r = parseConfigText(text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.document, document);
      assert.equal(r.error.line, line);
      assert.match(r.error.reason, reason);
    });
  }

  void it("refuses a recursive alias", () => {
    const r = parseConfigText("kind: A\nmetadata: &m\n  name: a\n  labels:\n    x: *m\n");
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.reason, /cycle/);
  });

  void it("refuses alias bombs", () => {
    const text =
      "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";
    const r = parseConfigText(text);
    assert.equal(r.ok, false);
  });
});

void describe("file names and positions", () => {
  const names: Array<[string, boolean]> = [
    ["a.yaml", true],
    ["b.yml", true],
    ["c.json", true],
    ["C.YAML", true],
    [".a.yaml.swp", false],
    [".hidden.yaml", false],
    ["a.yaml~", false],
    ["4913", false],
    ["notes.txt", false],
  ];
  for (const [n, want] of names) void it(`${n} is ${want ? "" : "not "}a config file`, () => assert.equal(isConfigFileName(n), want));
  void it("describes a position", () =>
    assert.equal(describePosition("/c/a.yaml", { document: 2, line: 9, item: "items[1]" }), "/c/a.yaml:9 (document 2, items[1])"));
});
