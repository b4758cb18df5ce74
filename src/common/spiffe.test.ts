import { test } from "node:test";
import assert from "node:assert/strict";
import { identity, parsePrincipal, parseUri, toPrincipal, toUri } from "./spiffe.js";

test("spiffe: formats and parses the URI form", () => {
  const id = identity("cluster.local", "default", "sleep");
  assert.equal(toUri(id), "spiffe://cluster.local/ns/default/sa/sleep");
  assert.equal(toPrincipal(id), "cluster.local/ns/default/sa/sleep");
  const back = parseUri(toUri(id));
  assert.ok(back.ok);
  assert.deepEqual(back.value, id);
});

test("spiffe: rejects malformed identities with a reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["cluster.local/ns/default/sa/sleep", /missing spiffe:\/\/ scheme/],
    ["spiffe://cluster.local/ns/default", /expected <trust-domain>/],
    ["spiffe://cluster.local/namespace/default/sa/x", /expected <trust-domain>/],
    ["spiffe://cluster.local/ns//sa/x", /invalid segment/],
    ["spiffe://cluster.local/ns/a b/sa/x", /invalid segment/],
  ];
  for (const [input, why] of cases) {
    const r = parseUri(input);
    assert.ok(!r.ok, input);
    assert.match(r.error.message, why, input);
  }
  assert.ok(!parsePrincipal("a/b").ok);
  assert.throws(() => identity("td", "", "sa"), /invalid namespace/);
});
