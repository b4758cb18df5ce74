import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { workload } from "../../../test/support/model.js";
import type { AddressResource } from "../../common/xds/address-codec.js";
import { ADDRESS_TYPE_URL, protoTypes } from "../../common/xds/proto.js";
import { ResourceStore } from "./resource-store.js";
import { addressKind, authorizationKind } from "./resource-kind.js";

const w = (name: string, ip: string): AddressResource => ({ kind: "workload", value: workload({ name, addresses: [ip] }) });
const store = () => new ResourceStore([addressKind, authorizationKind]);

void describe("resource store", () => {
  void it("versions by content: the same object twice is one change, and versions are stable across stores", () => {
    const a = store();
    const b = store();
    assert.deepEqual(a.update(ADDRESS_TYPE_URL, [w("x", "10.0.0.1")]), ["cluster1//Pod/default/x"]);
    assert.deepEqual(a.update(ADDRESS_TYPE_URL, [w("x", "10.0.0.1")]), []);
    b.update(ADDRESS_TYPE_URL, [w("x", "10.0.0.1")]);
    assert.equal(a.get(ADDRESS_TYPE_URL, "cluster1//Pod/default/x")?.version, b.get(ADDRESS_TYPE_URL, "cluster1//Pod/default/x")?.version);
    a.update(ADDRESS_TYPE_URL, [w("x", "10.0.0.2")]);
    assert.notEqual(
      a.get(ADDRESS_TYPE_URL, "cluster1//Pod/default/x")?.version,
      b.get(ADDRESS_TYPE_URL, "cluster1//Pod/default/x")?.version,
    );
  });

  void it("pre-encodes each entry as a DeltaDiscoveryResponse.resources field with name, version, aliases and Any", () => {
    const s = store();
    s.update(ADDRESS_TYPE_URL, [w("x", "10.0.0.1")]);
    const e = s.get(ADDRESS_TYPE_URL, "cluster1//Pod/default/x")!;
    const resp = protoTypes().DeltaDiscoveryResponse.decode(e.resourceField) as unknown as {
      resources: Array<{ name: string; version: string; aliases: string[]; resource: { type_url: string } }>;
    };
    assert.equal(resp.resources[0]!.name, "cluster1//Pod/default/x");
    assert.equal(resp.resources[0]!.version, e.version);
    assert.deepEqual(resp.resources[0]!.aliases, ["/10.0.0.1"]);
    assert.equal(resp.resources[0]!.resource.type_url, ADDRESS_TYPE_URL);
  });

  void it("setAll removes what is missing and reports changes once per drain", () => {
    const s = store();
    s.setAll(ADDRESS_TYPE_URL, [w("x", "10.0.0.1"), w("y", "10.0.0.2")]);
    s.takeChanges();
    assert.deepEqual(s.setAll(ADDRESS_TYPE_URL, [w("y", "10.0.0.2")]), ["cluster1//Pod/default/x"]);
    assert.deepEqual([...(s.takeChanges().get(ADDRESS_TYPE_URL) ?? [])], ["cluster1//Pod/default/x"]);
    assert.equal(s.takeChanges().size, 0);
  });

  void it("applies nothing when one object of an update cannot be encoded", () => {
    const s = store();
    const bad: AddressResource = { kind: "workload", value: workload({ name: "bad", addresses: ["not-an-ip"] }) };
    assert.throws(() => s.update(ADDRESS_TYPE_URL, [w("x", "10.0.0.1"), bad]), /not an IP address/);
    assert.equal(s.all(ADDRESS_TYPE_URL).size, 0);
    assert.throws(() => s.update("type.googleapis.com/nope", []), /unknown type url/);
  });
});
