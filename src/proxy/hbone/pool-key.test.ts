import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { identity } from "../../common/spiffe.js";
import { type ConnectionLoad, pickConnection, poolKey, streamLimit } from "./pool-key.js";

const a = identity("cluster.local", "ns", "a");
const b = identity("cluster.local", "ns", "b");
const c = identity("cluster.local", "ns", "c");
const base = { sourceIdentity: a, destinationIdentities: [b, c], destination: { ip: "10.0.0.2", port: 15008 } };

describe("poolKey", () => {
  test("ignores the order and duplicates of the destination identity set", () => {
    assert.equal(poolKey(base), poolKey({ ...base, destinationIdentities: [c, b, c] }));
  });

  const differing: { name: string; other: Parameters<typeof poolKey>[0] }[] = [
    { name: "source identity", other: { ...base, sourceIdentity: c } },
    { name: "destination identity set", other: { ...base, destinationIdentities: [b] } },
    { name: "destination address", other: { ...base, destination: { ip: "10.0.0.3", port: 15008 } } },
    { name: "destination port", other: { ...base, destination: { ip: "10.0.0.2", port: 15009 } } },
    { name: "source IP", other: { ...base, sourceIp: "10.0.0.7" } },
  ];
  for (const d of differing) {
    test(`differs when the ${d.name} differs`, () => assert.notEqual(poolKey(base), poolKey(d.other)));
  }
});

describe("pickConnection", () => {
  const conn = (id: number, active: number, limit = 100, draining = false): ConnectionLoad => ({ id, active, limit, draining });
  const cases: { name: string; conns: ConnectionLoad[]; want: number | undefined }[] = [
    { name: "none when the pool is empty", conns: [], want: undefined },
    { name: "the only connection with room", conns: [conn(1, 3)], want: 1 },
    { name: "none when every connection is full", conns: [conn(1, 100), conn(2, 2, 2)], want: undefined },
    { name: "skips draining connections", conns: [conn(1, 0, 100, true)], want: undefined },
    { name: "packs onto the busiest connection with room", conns: [conn(1, 3), conn(2, 50), conn(3, 100)], want: 2 },
    { name: "the oldest on a tie", conns: [conn(5, 7), conn(2, 7)], want: 2 },
    { name: "a connection whose limit is 0 (closed) takes nothing", conns: [conn(1, 0, 0), conn(2, 1)], want: 2 },
  ];
  for (const c of cases) test(c.name, () => assert.equal(pickConnection(c.conns)?.id, c.want));
});

describe("streamLimit", () => {
  const cases: [number, number | undefined, number][] = [
    [100, undefined, 100],
    [100, 200, 100],
    [100, 10, 10],
    [100, 4294967295, 100],
    [100, Infinity, 100],
    [100, 0, 0],
  ];
  for (const [pool, peer, want] of cases) {
    test(`pool ${pool}, server ${peer} -> ${want}`, () => assert.equal(streamLimit(pool, peer), want));
  }
});
