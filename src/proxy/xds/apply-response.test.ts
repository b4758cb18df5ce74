import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { workload } from "../../../test/support/model.js";
import { encodeAddress } from "../../common/xds/address-codec.js";
import { ADDRESS_TYPE_URL, protoTypes } from "../../common/xds/proto.js";
import type { IncomingDeltaResponse, WireResource } from "../../common/xds/delta-wire.js";
import { ProxyState } from "../state/state.js";
import { StateMutator } from "../state/mutator.js";
import { applyResponse, nackDetail } from "./apply-response.js";

const res = (name: string, value: Uint8Array, version = "v1", typeUrl = ADDRESS_TYPE_URL): WireResource => ({
  name,
  version,
  aliases: [],
  resource: { typeUrl, value },
});
const good = (n: string, ip: string) => {
  const w = workload({ name: n, addresses: [ip] });
  return res(w.uid, encodeAddress({ kind: "workload", value: w }));
};
const resp = (resources: WireResource[], removed: string[] = []): IncomingDeltaResponse => ({
  typeUrl: ADDRESS_TYPE_URL,
  nonce: "n",
  systemVersionInfo: "",
  resources,
  removed,
});

void describe("applying a delta response", () => {
  void it("applies the valid resources, rejects the invalid one, and records only applied versions", () => {
    const state = new ProxyState();
    const known = new Map<string, string>([["cluster1//Pod/default/old", "v0"]]);
    const bad = res(
      "cluster1//Pod/default/bad",
      protoTypes()
        .Address.encode({ workload: { uid: "cluster1//Pod/default/bad", name: "bad", namespace: "default", addresses: [Buffer.alloc(3)] } })
        .finish(),
    );
    const wrongType = res("x", new Uint8Array(), "v1", "type.googleapis.com/other");
    const out = applyResponse(resp([good("a", "10.0.0.1"), bad, wrongType], ["cluster1//Pod/default/old"]), new StateMutator(state), known);
    assert.ok(state.workloadByUid("cluster1//Pod/default/a"));
    assert.equal(state.workloadByUid("cluster1//Pod/default/bad"), undefined);
    assert.deepEqual([...known.keys()], ["cluster1//Pod/default/a"]);
    assert.deepEqual(
      out.errors.map((e) => `${e.resource} ${e.field}`),
      ["cluster1//Pod/default/bad workload.addresses[0]", "x resource.type_url"],
    );
    const detail = nackDetail(out.errors);
    assert.equal(detail.code, 3);
    assert.match(detail.message, /cluster1\/\/Pod\/default\/bad: workload.addresses\[0\]: ip must be 4 or 16 bytes, got 3/);
  });

  void it("keeps the previous version of a resource whose update the state refuses", () => {
    const state = new ProxyState();
    const known = new Map<string, string>();
    applyResponse(resp([good("a", "10.0.0.1")]), new StateMutator(state), known);
    // A services key the codec accepts but the state refuses would also be kept out; here the
    // name does not match the payload, which the codec refuses.
    const w = workload({ name: "a", addresses: ["10.0.0.9"] });
    const out = applyResponse(
      resp([res("cluster1//Pod/default/other", encodeAddress({ kind: "workload", value: w }), "v2")]),
      new StateMutator(state),
      known,
    );
    assert.equal(out.errors[0]?.field, "name");
    assert.equal(state.workloadByUid("cluster1//Pod/default/a")?.addresses[0], "10.0.0.1");
    assert.equal(known.get("cluster1//Pod/default/a"), "v1");
  });
});
