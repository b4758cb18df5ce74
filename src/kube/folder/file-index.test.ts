import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { canonicalJson, diffEffective, emptyFile, readFile, resolveFolder, withDefaultNamespace } from "./file-index.js";
import { objectValidator } from "../validate/validate.js";

const validate = objectValidator();
const ns = (name: string, extra = "") => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n${extra}`;
const sa = (name: string, namespace?: string) =>
  `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ""}`;

void describe("readFile", () => {
  void it("reads every valid object and defaults the namespace of namespaced kinds", () => {
    const r = readFile("/c/a.yaml", `${ns("shop")}---\n${sa("web")}`, emptyFile, validate, "default");
    assert.deepEqual([...r.state.entries.keys()], ["/Namespace//shop", "/ServiceAccount/default/web"]);
    assert.deepEqual(r.problems, []);
    assert.equal(r.state.entries.get("/ServiceAccount/default/web")?.origin.source, "/c/a.yaml:6 (document 1)");
  });

  void it("keeps the previous objects of a file that fails to parse", () => {
    const first = readFile("/c/a.yaml", ns("shop"), emptyFile, validate, "default");
    const r = readFile("/c/a.yaml", `${ns("shop")}---\nfoo: [\n`, first.state, validate, "default");
    assert.equal(r.parseFailed, true);
    assert.equal(r.state, first.state);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!.origin.source, /^\/c\/a\.yaml:\d+ \(document 1\)$/);
    assert.match(r.problems[0]!.reason, /invalid YAML.*previous objects stay in force/);
  });

  void it("keeps the previous version of an object whose new version is invalid, applying the others", () => {
    const first = readFile("/c/a.yaml", `${ns("shop")}---\n${sa("web", "shop")}`, emptyFile, validate, "default");
    const bad = `${ns("shop", "  labels:\n    a: b\n")}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n  namespace: shop\nbogus: 1\n`;
    const r = readFile("/c/a.yaml", bad, first.state, validate, "default");
    assert.equal(r.state.entries.get("/ServiceAccount/shop/web"), first.state.entries.get("/ServiceAccount/shop/web"));
    assert.deepEqual(r.state.entries.get("/Namespace//shop")?.object.metadata.labels, { a: "b" });
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.object, "ServiceAccount shop/web");
    assert.equal(r.problems[0]!.field, "bogus");
    assert.match(r.problems[0]!.reason, /previous version stays in force/);
  });

  void it("keeps the whole file when a document cannot be identified", () => {
    const first = readFile("/c/a.yaml", `${ns("shop")}---\n${sa("web", "shop")}`, emptyFile, validate, "default");
    const r = readFile(
      "/c/a.yaml",
      `${ns("shop")}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  namespace: shop\n`,
      first.state,
      validate,
      "default",
    );
    assert.equal(r.parseFailed, true);
    assert.equal(r.state, first.state);
    assert.equal(r.problems[0]?.field, "metadata.name");
    assert.match(r.problems[0]!.reason, /cannot be identified/);
  });

  void it("drops an invalid new object and reports it", () => {
    const r = readFile("/c/a.yaml", sa("Bad_Name", "shop"), emptyFile, validate, "default");
    assert.equal(r.state.entries.size, 0);
    assert.equal(r.problems[0]?.field, "metadata.name");
  });

  void it("keeps the first of two definitions inside one file", () => {
    const r = readFile(
      "/c/a.yaml",
      `${ns("shop", "  labels:\n    v: one\n")}---\n${ns("shop", "  labels:\n    v: two\n")}`,
      emptyFile,
      validate,
      "default",
    );
    assert.deepEqual(r.state.entries.get("/Namespace//shop")?.object.metadata.labels, { v: "one" });
    assert.match(r.problems[0]!.reason, /duplicate definition: already defined at \/c\/a\.yaml:1/);
  });
});

void describe("resolveFolder", () => {
  void it("takes a conflicting object from the first file by path and reports the other", () => {
    const a = readFile("/c/b.yaml", ns("shop", "  labels:\n    from: b\n"), emptyFile, validate, "default").state;
    const b = readFile("/c/a.yaml", ns("shop", "  labels:\n    from: a\n"), emptyFile, validate, "default").state;
    const r = resolveFolder(
      new Map([
        ["/c/b.yaml", a],
        ["/c/a.yaml", b],
      ]),
    );
    assert.deepEqual(r.effective.get("/Namespace//shop")?.object.metadata.labels, { from: "a" });
    assert.deepEqual([...r.conflicts.keys()], ["/c/b.yaml"]);
    assert.match(r.conflicts.get("/c/b.yaml")![0]!.reason, /also defined at \/c\/a\.yaml:1/);
  });
});

void describe("diffEffective", () => {
  const st = (text: string) => readFile("/c/a.yaml", text, emptyFile, validate, "default").state.entries;
  void it("emits deletes then upserts, skipping unchanged objects", () => {
    const prev = st(`${ns("a")}---\n${ns("b")}---\n${ns("c")}`);
    const next = st(`${ns("b")}---\n${ns("c", "  labels:\n    x: y\n")}---\n${ns("d")}`);
    const ev = diffEffective(prev, next, (k) => ({ source: `gone ${k}` }));
    assert.deepEqual(
      ev.map((e) => (e.type === "delete" ? `-${e.key}` : `+${e.object.metadata.name}`)),
      ["-/Namespace//a", "+c", "+d"],
    );
  });
});

void describe("helpers", () => {
  void it("canonicalJson ignores key order", () =>
    assert.equal(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), canonicalJson({ a: { c: 2, d: 1 }, b: 1 })));
  void it("leaves cluster-scoped and unknown kinds without namespace", () => {
    assert.deepEqual(withDefaultNamespace({ apiVersion: "v1", kind: "Node", metadata: { name: "n" } }, "default"), {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n" },
    });
    assert.deepEqual(withDefaultNamespace({ apiVersion: "x/v1", kind: "Thing", metadata: { name: "n" } }, "default"), {
      apiVersion: "x/v1",
      kind: "Thing",
      metadata: { name: "n" },
    });
  });
});
