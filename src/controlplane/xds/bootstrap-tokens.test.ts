/** Bootstrap token tables: node entries (ztunnels) and workload entries (no node). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BootstrapTokenAuthenticator } from "./bootstrap-tokens.js";

const WP = "spiffe://cluster.local/ns/shop/sa/waypoint";

void describe("BootstrapTokenAuthenticator", () => {
  void it("a node entry authenticates with its node, a workload entry without one", async () => {
    const a = new BootstrapTokenAuthenticator([
      { token: "node-token-0123456789", node: "n1", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
      { token: "wp-token-0123456789ab", identity: WP, namespace: "shop", serviceAccount: "waypoint" },
    ]);
    assert.deepEqual(await a.authenticate("node-token-0123456789"), {
      ok: true,
      value: { identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel", node: "n1" },
    });
    assert.deepEqual(await a.authenticate("wp-token-0123456789ab"), { ok: true, value: { identity: WP } });
    assert.equal((await a.authenticate("unknown-token-0123456")).ok, false);
  });

  const bad: Array<[string, ConstructorParameters<typeof BootstrapTokenAuthenticator>[0][number], RegExp]> = [
    [
      "a namespace that is not the identity's",
      { token: "wp-token-0123456789ab", identity: WP, namespace: "other" },
      /namespace other differs/,
    ],
    [
      "a service account that is not the identity's",
      { token: "wp-token-0123456789ab", identity: WP, serviceAccount: "x" },
      /serviceAccount x differs/,
    ],
    ["an empty node", { token: "wp-token-0123456789ab", identity: WP, node: "" }, /node must not be empty/],
    ["a short token", { token: "short", identity: WP }, /shorter than 16/],
  ];
  for (const [name, entry, want] of bad)
    void it(`refuses ${name}`, () => assert.throws(() => new BootstrapTokenAuthenticator([entry]), want));
});
