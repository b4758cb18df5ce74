import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../object.js";
import { applyWatchEvent, diffList, dropAll, type Known } from "./kube-relist.js";

const pod = (name: string, rv: string, ns = "default"): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, resourceVersion: rv },
});
const summary = (cs: ReturnType<typeof diffList>): string[] =>
  cs.map((c) => (c.type === "delete" ? `-${c.key}` : `+${c.object.metadata.name}@${c.object.metadata.resourceVersion}`));

void test("kube-relist: a re-list emits exactly the difference to what was delivered", () => {
  const cases: Array<{ name: string; known: Array<[string, string]>; listed: KubeObject[]; want: string[]; after: string[] }> = [
    {
      name: "first list upserts everything",
      known: [],
      listed: [pod("a", "1"), pod("b", "2")],
      want: ["+a@1", "+b@2"],
      after: ["/Pod/default/a", "/Pod/default/b"],
    },
    {
      name: "unchanged objects are not re-sent",
      known: [["/Pod/default/a", "1"]],
      listed: [pod("a", "1")],
      want: [],
      after: ["/Pod/default/a"],
    },
    {
      name: "changed resourceVersion is an upsert",
      known: [["/Pod/default/a", "1"]],
      listed: [pod("a", "5")],
      want: ["+a@5"],
      after: ["/Pod/default/a"],
    },
    {
      name: "objects gone meanwhile are deleted, deletes first",
      known: [
        ["/Pod/default/a", "1"],
        ["/Pod/default/b", "2"],
        ["/Pod/other/c", "3"],
      ],
      listed: [pod("b", "2"), pod("d", "9")],
      want: ["-/Pod/default/a", "-/Pod/other/c", "+d@9"],
      after: ["/Pod/default/b", "/Pod/default/d"],
    },
    { name: "an empty list deletes everything", known: [["/Pod/default/a", "1"]], listed: [], want: ["-/Pod/default/a"], after: [] },
  ];
  for (const c of cases) {
    const known: Known = new Map(c.known);
    assert.deepEqual(summary(diffList(known, c.listed)), c.want, c.name);
    assert.deepEqual([...known.keys()].sort(), c.after, c.name);
  }
});

void test("kube-relist: watch events update the known set and skip replays", () => {
  const known: Known = new Map();
  const steps: Array<[type: "ADDED" | "MODIFIED" | "DELETED", o: KubeObject, want: string | undefined]> = [
    ["ADDED", pod("a", "1"), "+a@1"],
    ["ADDED", pod("a", "1"), undefined], // replayed after a resumed watch
    ["MODIFIED", pod("a", "2"), "+a@2"],
    ["DELETED", pod("a", "3"), "-/Pod/default/a"],
    ["DELETED", pod("a", "3"), undefined], // never had it (any more)
    ["MODIFIED", pod("b", "4"), "+b@4"], // first sight through MODIFIED is still an upsert
  ];
  for (const [type, o, want] of steps) {
    const c = applyWatchEvent(known, type, o);
    assert.deepEqual(c ? summary([c])[0] : undefined, want, `${type} ${o.metadata.name}@${o.metadata.resourceVersion}`);
  }
  assert.deepEqual([...known.entries()], [["/Pod/default/b", "4"]]);
});

void test("kube-relist: dropAll deletes every known object when a kind disappears", () => {
  const known: Known = new Map([
    ["x/K/ns/b", "1"],
    ["x/K/ns/a", "2"],
  ]);
  assert.deepEqual(summary(dropAll(known)), ["-x/K/ns/a", "-x/K/ns/b"]);
  assert.equal(known.size, 0);
});
