import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeAddress, encodeAddress } from "./address-codec.js";
import { service, workload } from "../../../test/support/model.js";

void describe("address codec: mesh-edge fields", () => {
  void it("Workload.capacity (27) and hostname (21) round-trip; Service.visibility (14) too", () => {
    const w = workload({ name: "vm", uid: "c/networking.istio.io/WorkloadEntry/ns/vm", hostname: "vm.example.com", capacity: 7 });
    const dw = decodeAddress(encodeAddress({ kind: "workload", value: w }), w.uid);
    assert.ok(dw.ok);
    assert.equal(dw.ok && dw.value.kind === "workload" && dw.value.value.capacity, 7);
    assert.equal(dw.ok && dw.value.kind === "workload" && dw.value.value.hostname, "vm.example.com");
    const s = service({ name: "ext", namespace: "ns", hostname: "api.example.com", vips: ["240.240.0.9"], visibility: "NAMESPACE" });
    const ds = decodeAddress(encodeAddress({ kind: "service", value: s }), "ns/api.example.com");
    assert.ok(ds.ok);
    assert.equal(ds.ok && ds.value.kind === "service" && ds.value.value.visibility, "NAMESPACE");
    const pub = decodeAddress(encodeAddress({ kind: "service", value: { ...s, visibility: "PUBLIC" } }), "ns/api.example.com");
    assert.equal(pub.ok && pub.value.kind === "service" && pub.value.value.visibility, undefined);
  });
});
