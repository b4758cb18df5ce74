import { test } from "node:test";
import assert from "node:assert/strict";
import { chain, primaryConfFile, unchain } from "./cni-chain.js";

const bridge = {
  cniVersion: "1.0.0",
  name: "cbr0",
  plugins: [{ type: "bridge", bridge: "cni0", ipam: { type: "host-local" } }, { type: "portmap" }],
};
const entry = { type: "weft-cni" as const, agentSocket: "/run/weft/node-a/cni.sock" };

void test("the runtime's file: first network configuration in lexical order, ignoring other files", () => {
  assert.equal(primaryConfFile(["20-other.conflist", "10-bridge.conflist", "README", ".05-hidden.conflist"]), "10-bridge.conflist");
  assert.equal(primaryConfFile(["99-loopback.conf", "10-calico.conflist"]), "10-calico.conflist");
  assert.equal(primaryConfFile(["notes.txt"]), undefined);
});

void test("chain appends weft's entry after the existing plugins; again is unchanged; unchain restores the original", () => {
  const original = JSON.stringify(bridge, null, 2) + "\n";
  const c = chain("10-bridge.conflist", original, entry);
  assert.ok(c.ok);
  const doc = JSON.parse(c.value.text) as typeof bridge;
  assert.deepEqual(
    doc.plugins.map((p) => p.type),
    ["bridge", "portmap", "weft-cni"],
  );
  assert.equal(c.value.unchanged, false);
  assert.equal(c.value.asConflist, false);
  const again = chain("10-bridge.conflist", c.value.text, entry);
  assert.ok(again.ok && again.value.unchanged);
  const moved = chain("10-bridge.conflist", c.value.text, { ...entry, agentSocket: "/run/weft/x/cni.sock" });
  assert.ok(
    moved.ok && !moved.value.unchanged && JSON.parse(moved.value.text).plugins.length === 3,
    "an old weft entry is replaced, not doubled",
  );
  const u = unchain("10-bridge.conflist", c.value.text);
  assert.ok(u.ok && !u.value.unchanged);
  assert.deepEqual(JSON.parse(u.value.text), bridge);
  const u2 = unchain("10-bridge.conflist", original);
  assert.ok(u2.ok && u2.value.unchanged && u2.value.text === original);
});

void test("chain + unchain gives back the file's bytes, with or without a final newline", () => {
  for (const original of [JSON.stringify(bridge, null, 2), JSON.stringify(bridge, null, 2) + "\n"]) {
    const c = chain("10-bridge.conflist", original, entry);
    assert.ok(c.ok);
    assert.equal(c.value.text.endsWith("\n"), original.endsWith("\n"));
    const u = unchain("10-bridge.conflist", c.value.text);
    assert.ok(u.ok);
    assert.equal(u.value.text, original);
  }
});

void test("a single-plugin .conf becomes a list to be written as .conflist", () => {
  const c = chain("10-bridge.conf", JSON.stringify({ cniVersion: "0.4.0", name: "n", type: "bridge", bridge: "cni0" }), entry);
  assert.ok(c.ok && c.value.asConflist);
  assert.deepEqual(JSON.parse(c.value.text), {
    cniVersion: "0.4.0",
    name: "n",
    plugins: [{ type: "bridge", bridge: "cni0" }, entry],
  });
});

void test("bad documents are errors naming the file and field", () => {
  const cases: [string, RegExp][] = [
    ["{", /^10\.conflist: not JSON/],
    ["[]", /^10\.conflist: expected a JSON object/],
    ['{"plugins":[{"x":1}]}', /^10\.conflist: plugins: every entry needs a string "type"/],
    ['{"name":"n"}', /^10\.conflist: neither a conflist/],
    ['{"plugins":[{"type":"weft-cni"}]}', /^10\.conflist: no interface plugin to chain after/],
  ];
  for (const [text, re] of cases) {
    const r = chain("10.conflist", text, entry);
    assert.ok(!r.ok, text);
    if (!r.ok) assert.match(r.error.message, re);
  }
});
