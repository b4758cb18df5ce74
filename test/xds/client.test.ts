/**
 * ztunnel's xDS client against the real control plane server over TLS, applying into the real
 * ztunnel state (ProxyState + StateMutator): convergence, per-resource NACK, and surviving a
 * control-plane restart with its state intact and a delta-only resync.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { workload, service } from "../support/model.js";
import type { Authorization } from "../../src/common/model/authorization.js";
import { type AddressResource, encodeAddress } from "../../src/common/xds/address-codec.js";
import { protoTypes, ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../../src/common/xds/proto.js";
import { ResourceStore } from "../../src/controlplane/xds/resource-store.js";
import { type ResourceKind, addressKind, authorizationKind } from "../../src/controlplane/xds/resource-kind.js";
import { ProxyState } from "../../src/proxy/state/state.js";
import { StateMutator } from "../../src/proxy/state/mutator.js";
import { XdsClient } from "../../src/proxy/xds/client.js";
import { type Bed, CP_SAN, NODE_ID_A, TOKEN_A, startBed, until } from "./support.js";

const w = (name: string, ip: string, extra: object = {}): AddressResource => ({
  kind: "workload",
  value: workload({ name, addresses: [ip], ...extra }),
});
const uid = (name: string) => `cluster1//Pod/default/${name}`;
const policy = (name: string): Authorization => ({
  name,
  namespace: "default",
  scope: "NAMESPACE",
  action: "DENY",
  rules: [],
  dryRun: false,
});

/** Encodes workloads named "corrupt-*" with a 5-byte IP, as a broken control plane would. */
const FakeCorruptingAddressKind: ResourceKind<AddressResource> = {
  ...addressKind,
  encode: (r) =>
    r.kind === "workload" && r.value.name.startsWith("corrupt-")
      ? protoTypes()
          .Address.encode({
            workload: { uid: r.value.uid, name: r.value.name, namespace: r.value.namespace, addresses: [Buffer.alloc(5)] },
          })
          .finish()
      : encodeAddress(r),
};

void describe("ztunnel xDS client", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const client = (bed: Bed, state: ProxyState) => {
    const c = new XdsClient({
      target: { address: bed.address, rootsPem: bed.pki.rootsPem, expectedSan: CP_SAN, token: () => TOKEN_A },
      nodeId: NODE_ID_A,
      handler: new StateMutator(state),
      backoff: { initialMs: 20, maxMs: 200 },
    });
    cleanups.push(() => c.close());
    c.start();
    return c;
  };

  void it("converges on the control plane's workloads, services and policies, then follows changes", async () => {
    const bed = await startBed({ host: "127.0.30.3" });
    cleanups.push(() => bed.close());
    bed.store.setAll(ADDRESS_TYPE_URL, [
      w("a", "10.0.0.1"),
      w("b", "10.0.0.2"),
      { kind: "service", value: service({ name: "s", vips: ["10.96.0.1"] }) },
    ]);
    bed.store.setAll(AUTHORIZATION_TYPE_URL, [policy("deny-all")]);
    const state = new ProxyState();
    const c = client(bed, state);
    await c.synced();
    assert.equal(state.workloadByAddress("", "10.0.0.2")?.uid, uid("b"));
    assert.ok(state.serviceByVip("", "10.96.0.1"));
    assert.ok(state.authorization("default/deny-all"));
    bed.store.update(ADDRESS_TYPE_URL, [w("c", "10.0.0.3")], [uid("a")]);
    bed.store.update(AUTHORIZATION_TYPE_URL, [], ["default/deny-all"]);
    await until(
      "change applied",
      () => !!state.workloadByUid(uid("c")) && !state.workloadByUid(uid("a")) && !state.authorization("default/deny-all"),
    );
    assert.equal(c.status().nacks, 0);
  });

  void it("applies the valid resources of a response and NACKs the invalid one, naming it", async () => {
    const store = new ResourceStore([FakeCorruptingAddressKind, authorizationKind]);
    const bed = await startBed({ host: "127.0.30.4", store });
    cleanups.push(() => bed.close());
    store.setAll(ADDRESS_TYPE_URL, [w("good", "10.0.1.1"), w("corrupt-x", "10.0.1.2")]);
    const state = new ProxyState();
    const c = client(bed, state);
    await c.synced();
    assert.ok(state.workloadByUid(uid("good")));
    assert.equal(state.workloadByUid(uid("corrupt-x")), undefined);
    await until("nack counted", () => c.status().nacks === 1);
    await until("server saw the nack", () => bed.ads.clients()[0]?.types[ADDRESS_TYPE_URL]?.nacks === 1);
    // The rejected version is not re-sent in a loop; the next valid version is accepted.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.status().nacks, 1);
    store.update(ADDRESS_TYPE_URL, [w("good2", "10.0.1.3")]);
    await until("later update applied", () => !!state.workloadByUid(uid("good2")));
  });

  void it("keeps its state while the control plane is down and resyncs after a restart", async () => {
    const bed1 = await startBed({ host: "127.0.30.5" });
    bed1.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.0.2.1"), w("b", "10.0.2.2"), w("c", "10.0.2.3")]);
    const port = bed1.server.port;
    const state = new ProxyState();
    const c = client(bed1, state);
    await c.synced();
    await bed1.close();
    await until("disconnect noticed", () => !c.status().connected || c.status().reconnects > 0);
    assert.ok(state.workloadByUid(uid("a")), "state kept while the control plane is down");
    assert.ok(state.workloadByUid(uid("c")));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(state.workloadByUid(uid("b")));

    const store2 = new ResourceStore([addressKind, authorizationKind]);
    store2.setAll(ADDRESS_TYPE_URL, [w("a", "10.0.2.1"), w("b", "10.0.2.22"), w("d", "10.0.2.4")]);
    const bed2 = await startBed({ host: "127.0.30.5", port, store: store2 });
    cleanups.push(() => bed2.close());
    await until(
      "resynced",
      () => state.workloadByAddress("", "10.0.2.22")?.uid === uid("b") && !!state.workloadByUid(uid("d")) && !state.workloadByUid(uid("c")),
      5000,
    );
    assert.ok(state.workloadByUid(uid("a")));
    assert.ok(c.status().reconnects >= 1);
  });
});
