import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type StoreEntry, visibleTo } from "./resource-store.js";
import { applyRequest, changedDelta, fullDelta, newSubscription, recordSent } from "./subscription.js";

const entry = (name: string, version: string): StoreEntry => ({ name, version, resourceField: new Uint8Array() });
const store = (...es: Array<[string, string]>) => new Map(es.map(([n, v]) => [n, entry(n, v)]));
const req = (subscribe: string[] = [], unsubscribe: string[] = [], initialVersions: Record<string, string> = {}) => ({
  subscribe,
  unsubscribe,
  initialVersions,
});
const summary = (d: { upserts: StoreEntry[]; removals: string[] }) => ({
  up: d.upserts.map((e) => e.name).sort(),
  rm: [...d.removals].sort(),
});

void describe("subscription decisions", () => {
  const all = store(["a", "1"], ["b", "1"], ["c", "1"]);
  const cases: Array<[string, Array<[ReturnType<typeof req>, boolean]>, ReturnType<typeof summary>]> = [
    ["an empty first subscribe is a wildcard", [[req(), true]], { up: ["a", "b", "c"], rm: [] }],
    ["* on the first request is a wildcard", [[req(["*"]), true]], { up: ["a", "b", "c"], rm: [] }],
    ["explicit names get only those, unknown ones as removed", [[req(["a", "zz"]), true]], { up: ["a"], rm: ["zz"] }],
    [
      "initial versions suppress what the client has and remove what is gone",
      [[req(["*"], [], { a: "1", b: "0", gone: "1" }), true]],
      { up: ["b", "c"], rm: ["gone"] },
    ],
    ["subscribe and unsubscribe * first is on-demand: nothing until names come", [[req(["*"], ["*"]), true]], { up: [], rm: [] }],
    [
      "on-demand then a name",
      [
        [req(["*"], ["*"]), true],
        [req(["b"]), false],
      ],
      { up: ["b"], rm: [] },
    ],
  ];
  for (const [what, steps, want] of cases) {
    void it(what, () => {
      const sub = newSubscription();
      let last = { upserts: [] as StoreEntry[], removals: [] as string[] };
      for (const [r, first] of steps) {
        applyRequest(sub, r, first);
        last = fullDelta(sub, all);
        recordSent(sub, last);
      }
      assert.deepEqual(summary(last), want);
    });
  }

  void it("resends an explicitly re-subscribed name even when the client has it", () => {
    const sub = newSubscription();
    applyRequest(sub, req(["a"]), true);
    recordSent(sub, fullDelta(sub, all));
    applyRequest(sub, req(["a"]), false);
    assert.deepEqual(summary(fullDelta(sub, all)), { up: ["a"], rm: [] });
  });

  void it("pushes only changed names the client wants and lacks", () => {
    const sub = newSubscription();
    applyRequest(sub, req(["a", "b"]), true);
    recordSent(sub, fullDelta(sub, all));
    const next = store(["a", "2"], ["b", "1"], ["c", "2"]);
    assert.deepEqual(summary(changedDelta(sub, next, ["a", "b", "c"])), { up: ["a"], rm: [] });
    next.delete("b");
    assert.deepEqual(summary(changedDelta(sub, next, ["b"])), { up: [], rm: ["b"] });
  });

  void it("does not resend a version after recording it, whatever the client answered", () => {
    const sub = newSubscription();
    applyRequest(sub, req(), true);
    recordSent(sub, fullDelta(sub, all));
    assert.deepEqual(summary(changedDelta(sub, all, ["a", "b"])), { up: [], rm: [] });
  });

  void it("forgets unsubscribed names so a later subscribe sends them again", () => {
    const sub = newSubscription();
    applyRequest(sub, req(["a"]), true);
    recordSent(sub, fullDelta(sub, all));
    applyRequest(sub, req([], ["a"]), false);
    assert.equal(sub.known.has("a"), false);
    assert.deepEqual(summary(changedDelta(sub, store(["a", "9"]), ["a"])), { up: [], rm: [] });
  });
});

void describe("waypoint scoping (visible entries only)", () => {
  const scoped = (name: string, version: string, scopes: string[]): StoreEntry => ({ ...entry(name, version), scopes: new Set(scopes) });
  const all = new Map([
    ["mine", scoped("mine", "1", ["ns/wp"])],
    ["shared", scoped("shared", "1", ["ns/wp", "other/wp"])],
    ["theirs", scoped("theirs", "1", ["other/wp"])],
  ]);
  const mine = (e: StoreEntry) => visibleTo(e, "ns/wp");

  void it("a wildcard subscriber gets only the entries of its scope", () => {
    const sub = newSubscription();
    applyRequest(sub, req(), true);
    assert.deepEqual(summary(fullDelta(sub, all, mine)), { up: ["mine", "shared"], rm: [] });
  });

  void it("an entry leaving the caller's scope is removed from it, one joining is sent", () => {
    const sub = newSubscription();
    applyRequest(sub, req(), true);
    recordSent(sub, fullDelta(sub, all, mine));
    const moved = new Map(all);
    moved.set("mine", scoped("mine", "1", ["other/wp"]));
    moved.set("theirs", scoped("theirs", "1", ["ns/wp"]));
    assert.deepEqual(summary(changedDelta(sub, moved, ["mine", "theirs"], mine)), { up: ["theirs"], rm: ["mine"] });
  });

  void it("a caller without a scope (a ztunnel) sees no scoped entry, and every unscoped one", () => {
    assert.equal(visibleTo(scoped("x", "1", ["ns/wp"]), undefined), false);
    assert.equal(visibleTo(entry("x", "1"), undefined), true);
    assert.equal(visibleTo(entry("x", "1"), "ns/wp"), true);
  });
});
