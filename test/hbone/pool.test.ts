/**
 * The HBONE connection pool against a real HboneServer: streams share a connection up to the
 * per-connection limit and a second one opens past it; N simultaneous first requests cause one
 * dial; the key separates source identities; a connection whose peer stops answering PINGs is
 * dropped; an idle connection is released; dial failures are shared by waiters and counted;
 * close() drains. Timers are shortened through the settings.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { Duplex } from "node:stream";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import type { ConnectionInfo, HbonePool, PoolTarget } from "../../src/proxy/hbone/pool.js";
import type { OutboundTunnel } from "../../src/proxy/hbone/engine.js";
import type { HboneSettings } from "../../src/proxy/hbone/settings.js";
import { echo, eventually, readAll, startServer, startTcp, testPki, testPool, tunnelDuplex, type ServerFixture } from "./fixture.js";

let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let otherClientCert: WorkloadCertificate;
let f: ServerFixture;
let echoUp: Awaited<ReturnType<typeof startTcp>>;

before(async () => {
  const pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  otherClientCert = await pki.certFor("default", "client-b");
  f = await startServer({ cert: serverCert, settings: { pingIntervalMs: 0 } });
  echoUp = await startTcp(echo);
});

after(async () => {
  await f.server.close(200);
  await echoUp.close();
});

function target(source = clientCert, port = f.address.port): PoolTarget {
  return { source, expected: [serverCert.identity], destination: { ip: f.address.ip, port } };
}

async function open(pool: HbonePool<OutboundTunnel>, t = target()): Promise<Duplex> {
  const r = await pool.connect(t, { target: echoUp.address });
  if (!r.ok) throw r.error;
  return tunnelDuplex(r.value);
}

async function finish(s: Duplex): Promise<void> {
  s.end("bye");
  assert.equal((await readAll(s)).toString(), "bye");
}

function newPool(settings: Partial<HboneSettings> = {}, events: string[] = []): HbonePool<OutboundTunnel> {
  return testPool(settings, {
    connectionOpened: (c: ConnectionInfo) => events.push(`opened ${c.key.split("|")[0]}`),
    connectionClosed: (_c, e) => events.push(`closed${e ? ` ${e.name}` : ""}`),
    connectFailed: (_k, e) => events.push(`failed ${e.code}`),
  });
}

describe("hbone pool", () => {
  test("many streams share one connection", async () => {
    const pool = newPool();
    try {
      const streams = await Promise.all(Array.from({ length: 10 }, () => open(pool)));
      assert.equal(pool.stats().connections, 1);
      assert.equal(pool.stats().streamsActive, 10);
      assert.equal(pool.stats().connectionsOpened, 1, "ten simultaneous first requests, one dial");
      assert.equal(f.server.stats().sessions, 1);
      const inbound = f.server.dump();
      assert.equal(inbound.length, 1);
      assert.equal(inbound[0]!.peerIdentity, "spiffe://cluster.local/ns/default/sa/client");
      assert.equal(inbound[0]!.activeStreams, 10);
      await Promise.all(streams.map(finish));
      const more = await open(pool);
      await finish(more);
      assert.equal(pool.stats().connectionsOpened, 1);
      const dump = pool.dump();
      assert.equal(dump.length, 1);
      assert.equal(dump[0]!.sourceIdentity, "spiffe://cluster.local/ns/default/sa/client");
      assert.deepEqual(dump[0]!.destinationIdentities, ["spiffe://cluster.local/ns/default/sa/server"]);
      assert.equal(dump[0]!.connections[0]!.totalStreams, 11);
      assert.ok(!JSON.stringify(dump).includes("PRIVATE KEY"));
    } finally {
      await pool.close(500);
    }
  });

  test("a second connection opens past the per-connection stream limit", async () => {
    const pool = newPool({ poolMaxStreamsPerConnection: 2 });
    try {
      const streams = await Promise.all(Array.from({ length: 5 }, () => open(pool)));
      assert.equal(pool.stats().connections, 3);
      assert.ok(pool.dump()[0]!.connections.every((c) => c.activeStreams <= 2));
      await Promise.all(streams.map(finish));
      assert.ok(await eventually(() => pool.stats().streamsActive === 0));
    } finally {
      await pool.close(500);
    }
  });

  test("different source identities never share a connection", async () => {
    const events: string[] = [];
    const pool = newPool({}, events);
    try {
      const a = await open(pool, target(clientCert));
      const b = await open(pool, target(otherClientCert));
      assert.equal(pool.stats().connections, 2);
      assert.deepEqual(events.sort(), [
        "opened spiffe://cluster.local/ns/default/sa/client",
        "opened spiffe://cluster.local/ns/default/sa/client-b",
      ]);
      assert.deepEqual(
        f.calls
          .slice(-2)
          .map((c) => c.peerIdentity.serviceAccount)
          .sort(),
        ["client", "client-b"],
      );
      await Promise.all([finish(a), finish(b)]);
    } finally {
      await pool.close(500);
    }
  });

  test("an idle connection is released after the idle timeout", async () => {
    const events: string[] = [];
    const pool = newPool({ poolIdleTimeoutMs: 150 }, events);
    try {
      await finish(await open(pool));
      assert.equal(pool.stats().connections, 1);
      assert.ok(await eventually(() => pool.stats().connections === 0, 3_000), "idle connection should be released");
      assert.ok(events.includes("closed"));
      assert.ok(await eventually(() => f.server.stats().sessions === 0), "server side should see the connection go");
      // The next tunnel dials again.
      await finish(await open(pool));
      assert.equal(pool.stats().connectionsOpened, 2);
    } finally {
      await pool.close(500);
    }
  });

  test("a connection whose server stops answering PINGs is dropped", async () => {
    // A TCP relay we can freeze: bytes stop flowing both ways, like a dead peer or a black hole.
    let frozen = false;
    const pairs: net.Socket[] = [];
    const relay = net.createServer((inbound) => {
      const outbound = net.connect({ host: f.address.ip, port: f.address.port });
      pairs.push(inbound, outbound);
      for (const s of [inbound, outbound]) s.on("error", () => {});
      inbound.on("data", (c: Buffer) => !frozen && outbound.write(c));
      outbound.on("data", (c: Buffer) => !frozen && inbound.write(c));
      inbound.once("close", () => outbound.destroy());
      outbound.once("close", () => inbound.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.20.11", r));
    const relayPort = (relay.address() as net.AddressInfo).port;
    const events: string[] = [];
    const pool = newPool({ pingIntervalMs: 50, pingTimeoutMs: 200 }, events);
    try {
      const t: PoolTarget = { ...target(), destination: { ip: "127.0.20.11", port: relayPort } };
      const s = await open(pool, t);
      // Pings are answered while the relay flows.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(pool.stats().connections, 1);
      frozen = true;
      const closed = new Promise((r) => s.once("close", r));
      assert.ok(await eventually(() => pool.stats().connections === 0, 2_000), "dead connection should be evicted");
      assert.ok(events.includes("closed PingTimeoutError"), `events: ${events.join(", ")}`);
      await closed;
    } finally {
      await pool.close(200);
      for (const p of pairs) p.destroy();
      await new Promise((r) => relay.close(r));
    }
  });

  test("a failed dial is shared by the requests waiting on it and counted", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.20.12", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const events: string[] = [];
    const pool = newPool({}, events);
    try {
      const t: PoolTarget = { ...target(), destination: { ip: "127.0.20.12", port: closedPort } };
      const rs = await Promise.all(Array.from({ length: 5 }, () => pool.connect(t, { target: echoUp.address })));
      for (const r of rs) {
        assert.ok(!r.ok);
        assert.equal(r.error.code, "HBONE_CONNECT_FAILED");
        assert.match(r.error.message, /ECONNREFUSED.*15008/);
      }
      assert.deepEqual(events, ["failed HBONE_CONNECT_FAILED"]);
      assert.equal(pool.stats().connectFailures, 1);
      assert.equal(pool.dump().length, 0);
    } finally {
      await pool.close(100);
    }
  });

  test("after the server's GOAWAY the connection takes no new tunnels, while open ones finish", async () => {
    const g = await startServer({ cert: serverCert, ip: "127.0.20.13" });
    const events: string[] = [];
    const pool = newPool({}, events);
    try {
      const t = target(clientCert, g.address.port);
      const s = await open(pool, { ...t, destination: { ip: g.address.ip, port: g.address.port } });
      const shutdown = g.server.close(3_000);
      assert.ok(await eventually(() => pool.dump()[0]?.connections[0]?.draining === true), "GOAWAY should mark the connection draining");
      // Not reused: the pool dials again, and the closed listener refuses.
      const r = await pool.connect({ ...t, destination: { ip: g.address.ip, port: g.address.port } }, { target: echoUp.address });
      assert.ok(!r.ok);
      assert.equal(r.error.code, "HBONE_CONNECT_FAILED");
      await finish(s);
      await shutdown;
      assert.ok(await eventually(() => pool.stats().connections === 0));
    } finally {
      await pool.close(200);
      await g.server.close(100);
    }
  });

  test("close() drains open tunnels and refuses new ones", async () => {
    const pool = newPool();
    const s = await open(pool);
    const closing = pool.close(2_000);
    const r = await pool.connect(target(), { target: echoUp.address });
    assert.ok(!r.ok && r.error.code === "HBONE_CLOSED");
    // The open tunnel still works until it ends.
    await finish(s);
    await closing;
    assert.equal(pool.stats().connections, 0);
    assert.ok(await eventually(() => f.server.stats().sessions === 0));
  });
});
