import { test } from "node:test";
import assert from "node:assert/strict";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../common/xds/proto.js";
import { proxyStatusRows, typeStatus } from "./proxy-status.js";

const now = Date.parse("2026-01-01T00:01:00Z");
const at = (s: number) => new Date(now - s * 1000).toISOString();

test("typeStatus: synced, pending, stale, nacked, not sent, unsubscribed", () => {
  const sent = { nonce: "n2", at: at(10) };
  assert.equal(typeStatus(undefined, now, 5000), "-");
  assert.equal(typeStatus({ nacks: 0, known: 0 }, now, 5000), "NOT SENT");
  assert.equal(typeStatus({ nacks: 0, known: 3, lastSent: sent, lastAck: sent }, now, 5000), "SYNCED");
  assert.equal(typeStatus({ nacks: 0, known: 3, lastSent: sent, inFlight: "n2" }, now, 5000), "STALE (10s)");
  assert.equal(typeStatus({ nacks: 0, known: 3, lastSent: sent, inFlight: "n2" }, now, 60_000), "PENDING");
  assert.equal(typeStatus({ nacks: 1, known: 3, lastSent: sent, lastNack: { ...sent, error: "bad" } }, now, 5000), "NACKED");
  // A NACK of an older response, then a newer one ACKed: synced again.
  assert.equal(
    typeStatus({ nacks: 1, known: 3, lastSent: sent, lastAck: sent, lastNack: { nonce: "n1", at: at(20), error: "bad" } }, now, 5000),
    "SYNCED",
  );
});

test("proxyStatusRows names proxies by their node id and sorts ztunnels before waypoints", () => {
  const rows = proxyStatusRows(
    [
      {
        id: "router~10.0.0.9~wp-abc.demo~demo.svc.cluster.local/conn-3",
        node: "",
        identity: "spiffe://cluster.local/ns/demo/sa/wp",
        connectedAt: at(30),
        types: {},
      },
      {
        id: "ztunnel~10.0.0.1~ztunnel-node-0.istio-system~istio-system.svc.cluster.local/conn-1",
        node: "node-0",
        identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel",
        connectedAt: at(300),
        types: {
          [ADDRESS_TYPE_URL]: { nacks: 0, known: 7, lastSent: { nonce: "a", at: at(1) }, lastAck: { nonce: "a", at: at(1) } },
          [AUTHORIZATION_TYPE_URL]: {
            nacks: 1,
            known: 1,
            lastSent: { nonce: "b", at: at(1) },
            lastNack: { nonce: "b", at: at(1), error: "x: bad" },
          },
        },
      },
    ],
    now,
  );
  assert.deepEqual(
    rows.map((r) => [r.name, r.type, r.types.ADDRESS!.status, r.types.AUTHZ!.status, r.types.AUTHZ!.error, r.ages]),
    [
      ["wp-abc.demo", "waypoint", "-", "-", undefined, "30s"],
      ["ztunnel-node-0.istio-system", "ztunnel", "SYNCED", "NACKED", "x: bad", "5m"],
    ].sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
  );
});
