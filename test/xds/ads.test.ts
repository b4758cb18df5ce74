/**
 * Delta ADS server over TLS with a real grpc-js client: initial wildcard push, ACK/NACK,
 * deltas of changes and removals, explicit and on-demand subscriptions, reconnect with
 * initial_resource_versions, authentication and node-id checks.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { workload, service } from "../support/model.js";
import type { AddressResource } from "../../src/common/xds/address-codec.js";
import { decodeAddress } from "../../src/common/xds/address-codec.js";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../../src/common/xds/proto.js";
import type { IncomingDeltaResponse } from "../../src/common/xds/delta-wire.js";
import { type Bed, FakePushCounter, RawAdsClient, startBed, TOKEN_A } from "./support.js";

const w = (name: string, ip: string, extra: Parameters<typeof workload>[0] | object = {}): AddressResource => ({
  kind: "workload",
  value: workload({ name, addresses: [ip], ...extra }),
});
const uid = (name: string) => `cluster1//Pod/default/${name}`;
const names = (r: IncomingDeltaResponse) => r.resources.map((x) => x.name).sort();

void describe("delta ADS server", () => {
  let bed: Bed;
  const clients: RawAdsClient[] = [];
  const connect = (token?: string | null) => {
    const c = new RawAdsClient(bed, token);
    clients.push(c);
    return c;
  };

  before(async () => {
    bed = await startBed();
    bed.store.setAll(ADDRESS_TYPE_URL, [
      w("a", "10.0.0.1"),
      w("b", "10.0.0.2"),
      w("c", "10.0.0.3"),
      { kind: "service", value: service({ name: "s", vips: ["10.96.0.1"] }) },
    ]);
    bed.ads.flush();
  });
  after(async () => {
    for (const c of clients) c.close();
    await bed.close();
  });

  void it("pushes everything to a wildcard subscriber, decodable into domain objects, and answers an empty type too", async () => {
    const c = connect();
    c.send({ typeUrl: ADDRESS_TYPE_URL });
    const first = await c.next();
    assert.deepEqual(names(first), [uid("a"), uid("b"), uid("c"), "default/s.default.svc.cluster.local"].sort());
    for (const r of first.resources) {
      assert.equal(r.resource?.typeUrl, ADDRESS_TYPE_URL);
      const d = decodeAddress(r.resource!.value, r.name);
      assert.ok(d.ok, JSON.stringify(!d.ok && d.error));
    }
    assert.ok(first.nonce);
    c.ack(first);
    c.send({ typeUrl: AUTHORIZATION_TYPE_URL });
    const auth = await c.next();
    assert.equal(auth.typeUrl, AUTHORIZATION_TYPE_URL);
    assert.equal(auth.resources.length, 0);
    c.ack(auth);
    await c.quiet();
  });

  void it("sends only the changed resource, and a removal as removed_resources", async () => {
    const c = connect();
    c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: ["*"] });
    c.ack(await c.next());
    bed.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.22")]);
    bed.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.1")]); // unchanged content: no push
    const change = await c.next();
    assert.deepEqual(names(change), [uid("b")]);
    assert.deepEqual(change.removed, []);
    c.ack(change);
    bed.store.update(ADDRESS_TYPE_URL, [], [uid("c")]);
    const removal = await c.next();
    assert.deepEqual(removal.resources, []);
    assert.deepEqual(removal.removed, [uid("c")]);
    c.ack(removal);
    await c.quiet();
    bed.store.update(ADDRESS_TYPE_URL, [w("c", "10.0.0.3")]);
    c.ack(await c.next());
  });

  void it("keeps serving a client that NACKs, without resending the rejected version", async () => {
    const c = connect();
    c.send({ typeUrl: ADDRESS_TYPE_URL });
    c.ack(await c.next());
    bed.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.11")]);
    const bad = await c.next();
    assert.deepEqual(names(bad), [uid("a")]);
    c.ack(bad, { code: 3, message: `${uid("a")}: workload.addresses[0]: rejected by test` });
    await c.quiet(200);
    const info = bed.ads.clients().find((x) => x.types[ADDRESS_TYPE_URL]?.nacks === 1);
    assert.ok(info, "server recorded the NACK");
    bed.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.1")]);
    const next = await c.next();
    assert.deepEqual(names(next), [uid("a")]);
    c.ack(next);
  });

  void it("serves explicit subscriptions only, and reports unknown names as removed", async () => {
    const c = connect();
    c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: [uid("a"), uid("nope")] });
    const r = await c.next();
    assert.deepEqual(names(r), [uid("a")]);
    assert.deepEqual(r.removed, [uid("nope")]);
    c.ack(r);
    bed.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.2", { canonicalRevision: "v2" })]);
    await c.quiet();
    c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: [uid("b")] });
    const more = await c.next();
    assert.deepEqual(names(more), [uid("b")]);
    c.ack(more);
    c.send({ typeUrl: ADDRESS_TYPE_URL, unsubscribe: [uid("a")] });
    bed.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.1", { canonicalRevision: "v3" })]);
    await c.quiet();
  });

  void it("supports on-demand mode: subscribe and unsubscribe * first, then names as needed", async () => {
    const c = connect();
    c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: ["*"], unsubscribe: ["*"] });
    const empty = await c.next();
    assert.deepEqual(empty.resources, []);
    c.ack(empty);
    c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: [uid("c")] });
    const one = await c.next();
    assert.deepEqual(names(one), [uid("c")]);
    c.ack(one);
    bed.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.2", { canonicalRevision: "v4" })]);
    await c.quiet();
    c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: [uid("c")] });
    const again = await c.next();
    assert.deepEqual(names(again), [uid("c")], "an explicit re-subscribe is always answered");
  });

  void it("on reconnect with initial_resource_versions sends only what differs", async () => {
    const c1 = connect();
    c1.send({ typeUrl: ADDRESS_TYPE_URL });
    const all = await c1.next();
    c1.ack(all);
    const versions = Object.fromEntries(all.resources.map((r) => [r.name, r.version]));
    c1.close();
    bed.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.111"), w("d", "10.0.0.4")], [uid("c")]);
    bed.ads.flush();
    const c2 = connect();
    c2.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: ["*"], initialVersions: versions });
    const diff = await c2.next();
    assert.deepEqual(names(diff), [uid("a"), uid("d")]);
    assert.deepEqual(diff.removed, [uid("c")]);
  });

  void it("rejects a stream without a valid token as UNAUTHENTICATED", async () => {
    for (const token of [null, "wrong-token-0123456789"]) {
      const c = connect(token);
      c.send({ typeUrl: ADDRESS_TYPE_URL });
      const e = await c.failure();
      assert.equal(e.code, status.UNAUTHENTICATED);
      assert.match(e.details, /authentication failed/);
    }
  });

  void it("rejects a malformed node id and a node id of another namespace", async () => {
    const bad = connect(TOKEN_A);
    bad.send({ typeUrl: ADDRESS_TYPE_URL }, "not-a-node-id");
    assert.equal((await bad.failure()).code, status.INVALID_ARGUMENT);
    const other = connect(TOKEN_A);
    other.send({ typeUrl: ADDRESS_TYPE_URL }, "ztunnel~127.0.30.10~x.default~default.svc.cluster.local");
    assert.equal((await other.failure()).code, status.PERMISSION_DENIED);
  });
});

void describe("delta ADS flow control", () => {
  void it("sends the initial state whole, splits a large later delta and writes each part only after the previous one is answered", async () => {
    const bed = await startBed({ host: "127.0.30.6", maxResponseBytes: 1 });
    const c = new RawAdsClient(bed);
    try {
      bed.store.setAll(ADDRESS_TYPE_URL, [w("x", "10.0.0.9")]);
      // Flushed now, so that no push of x is still pending when x is removed below (it would be
      // sent on its own, correctly, before the split delta this test is about).
      bed.ads.flush();
      c.send({ typeUrl: ADDRESS_TYPE_URL });
      const initial = await c.next();
      assert.deepEqual(names(initial), [uid("x")]);
      c.ack(initial);
      bed.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.0.0.1"), w("b", "10.0.0.2"), w("c", "10.0.0.3")]);
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await c.next();
        assert.equal(r.resources.length, 1, JSON.stringify({ n: names(r), rm: r.removed }));
        seen.push(r.resources[0]!.name);
        await c.quiet(50);
        c.ack(r);
      }
      assert.deepEqual(seen.sort(), [uid("a"), uid("b"), uid("c")]);
      // (the removal of x travelled with the last part)
      // Changes made while a response is unanswered are coalesced into one update.
      bed.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.11")]);
      const first = await c.next();
      bed.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.12")]);
      bed.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.13")]);
      await c.quiet(80);
      c.ack(first);
      const coalesced = await c.next();
      assert.deepEqual(names(coalesced), [uid("b")]);
      const d = decodeAddress(coalesced.resources[0]!.resource!.value);
      assert.ok(d.ok && d.value.kind === "workload");
      assert.deepEqual(d.value.value.addresses, ["10.0.0.13"]);
    } finally {
      c.close();
      await bed.close();
    }
  });

  void it("lets only maxConcurrentInitialPushes initial responses be unanswered at once", async () => {
    const bed = await startBed({ host: "127.0.30.7", maxConcurrentInitialPushes: 1 });
    const c1 = new RawAdsClient(bed);
    const c2 = new RawAdsClient(bed);
    try {
      bed.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.0.0.1")]);
      c1.send({ typeUrl: ADDRESS_TYPE_URL });
      const r1 = await c1.next();
      c2.send({ typeUrl: ADDRESS_TYPE_URL });
      await c2.quiet(100);
      // A change while c2 waits is part of its initial state, not a separate update.
      bed.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.2")]);
      c1.ack(r1);
      const r2 = await c2.next();
      assert.deepEqual(names(r2), [uid("a"), uid("b")]);
      c2.ack(r2);
      await c2.quiet(60);
    } finally {
      c1.close();
      c2.close();
      await bed.close();
    }
  });

  void it("push and no-resend shown by counting the responses the server sent, not by quiet windows", async () => {
    const counter = new FakePushCounter();
    const own = await startBed({ host: "127.0.30.49", metrics: counter });
    const c = new RawAdsClient(own);
    try {
      own.store.setAll(ADDRESS_TYPE_URL, [w("a", "10.0.0.1"), w("b", "10.0.0.2")]);
      c.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: ["*"] });
      c.ack(await c.next());
      assert.equal(counter.count(ADDRESS_TYPE_URL), 1, "one initial response");

      // A burst of 20 changes and 5 re-upserts of unchanged objects is one response with 20.
      const burst = Array.from({ length: 20 }, (_, i) => w(`p${i}`, `10.0.1.${i + 1}`));
      for (const x of burst) own.store.update(ADDRESS_TYPE_URL, [x]);
      for (let i = 0; i < 5; i++) own.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.1")]);
      const delta = await c.next();
      assert.equal(delta.resources.length, 20);
      c.ack(delta);
      assert.equal(counter.count(ADDRESS_TYPE_URL), 2, "the burst was one response");
      assert.equal(counter.resources.get(ADDRESS_TYPE_URL), 2 + 20, "nothing unchanged was resent");

      // An unchanged re-upsert alone sends nothing: the next response is the next real change.
      own.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.2")]);
      own.ads.flush();
      own.store.update(ADDRESS_TYPE_URL, [w("b", "10.0.0.22")]);
      const change = await c.next();
      assert.deepEqual(names(change), [uid("b")]);
      assert.equal(counter.count(ADDRESS_TYPE_URL), 3);

      // A NACKed version is not resent: after the NACK the next response is the next change.
      c.ack(change, { code: 3, message: `${uid("b")}: rejected by test` });
      own.ads.flush();
      own.store.update(ADDRESS_TYPE_URL, [w("a", "10.0.0.11")]);
      const after = await c.next();
      assert.deepEqual(names(after), [uid("a")]);
      c.ack(after);
      assert.equal(counter.count(ADDRESS_TYPE_URL), 4, "exactly one response per real change, none for the NACK");
    } finally {
      c.close();
      await own.close();
    }
  });
});
