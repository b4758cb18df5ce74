import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatNodeId, parseNodeId } from "./node-id.js";
import { BootstrapTokenAuthenticator } from "../../controlplane/xds/bootstrap-tokens.js";
import { bearerToken } from "../../controlplane/xds/caller-auth.js";
import { Metadata } from "@grpc/grpc-js";

void describe("node id", () => {
  void it("parses the ztunnel form and formats it back", () => {
    const id = "ztunnel~10.0.0.5~ztunnel-x7.istio-system~istio-system.svc.cluster.local";
    const p = parseNodeId(id);
    assert.ok(p.ok);
    assert.deepEqual(p.value, {
      type: "ztunnel",
      ip: "10.0.0.5",
      pod: "ztunnel-x7",
      namespace: "istio-system",
      domain: "istio-system.svc.cluster.local",
    });
    assert.equal(formatNodeId({ ip: "10.0.0.5", pod: "ztunnel-x7", namespace: "istio-system" }), id);
  });
  const bad: Array<[string, RegExp]> = [
    ["ztunnel~10.0.0.5~pod.ns", /expected/],
    ["ztunnel~nope~pod.ns~ns.svc.cluster.local", /not an IP/],
    ["ztunnel~10.0.0.5~podns~ns.svc.cluster.local", /<pod>.<namespace>/],
    ["ztunnel~10.0.0.5~pod.ns~other.svc.cluster.local", /not in namespace ns/],
    ["~10.0.0.5~pod.ns~ns.svc.cluster.local", /empty proxy type/],
  ];
  for (const [id, msg] of bad) {
    void it(`rejects ${id}`, () => {
      const p = parseNodeId(id);
      assert.ok(!p.ok);
      assert.match(p.error.message, msg);
    });
  }
});

void describe("bootstrap token authenticator", () => {
  const auth = new BootstrapTokenAuthenticator([
    { token: "0123456789abcdef-a", node: "node-a", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
  ]);
  void it("maps a known token to its node and identity", async () => {
    const r = await auth.authenticate("0123456789abcdef-a");
    assert.ok(r.ok);
    assert.deepEqual(r.value, { identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel", node: "node-a" });
  });
  void it("refuses unknown tokens", async () => {
    assert.equal((await auth.authenticate("0123456789abcdef-b")).ok, false);
    assert.equal((await auth.authenticate("")).ok, false);
  });
  void it("refuses a table with short, duplicate or identity-less tokens", () => {
    const id = "spiffe://cluster.local/ns/a/sa/b";
    assert.throws(() => new BootstrapTokenAuthenticator([{ token: "short", node: "n", identity: id }]), /shorter than 16/);
    assert.throws(
      () =>
        new BootstrapTokenAuthenticator([
          { token: "0123456789abcdef", node: "n", identity: id },
          { token: "0123456789abcdef", node: "m", identity: id },
        ]),
      /duplicate/,
    );
    assert.throws(() => new BootstrapTokenAuthenticator([{ token: "0123456789abcdef", node: "n", identity: "b" }]), /identity/);
  });
  void it("reads only a well-formed Bearer authorization header", () => {
    const md = (v?: string) => {
      const m = new Metadata();
      if (v !== undefined) m.set("authorization", v);
      return m;
    };
    assert.deepEqual(bearerToken(md("Bearer abc")), { ok: true, value: "abc" });
    assert.equal(bearerToken(md()).ok, false);
    assert.equal(bearerToken(md("Basic abc")).ok, false);
    assert.equal(bearerToken(md("Bearer a b")).ok, false);
  });
});
