/**
 * The native engine's HBONE client (native/hbone_client.c, src/proxy/hbone/native-client.ts)
 * through the pool, against a real HBONE server (the engine WEFT_HBONE_ENGINE selects) and real
 * TCP sockets on both ends: an application connection accepted on CLIENT_IP is handed to the
 * tunnel as the ztunnel's outbound does. Covers echo and byte counts, half-close both ways,
 * pool reuse, the server identity check (SAN mismatch refused before any CONNECT), non-200
 * answers, connect failures, GOAWAY draining, resets both ways (truncation is a reset), and a
 * rotated certificate reaching new connections only.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { createHbonePool } from "../../src/proxy/hbone/engine.js";
import { NativeTunnel } from "../../src/proxy/hbone/native-client.js";
import type { HbonePool, PoolTarget } from "../../src/proxy/hbone/pool.js";
import type { OutboundTunnel } from "../../src/proxy/hbone/engine.js";
import type { HboneSettings } from "../../src/proxy/hbone/settings.js";
import { CLIENT_IP, echo, eventually, readAll, startServer, startTcp, testPki, type ServerFixture } from "./fixture.js";

let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let f: ServerFixture;
let echoUp: Awaited<ReturnType<typeof startTcp>>;

before(async () => {
  const pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  f = await startServer({ cert: serverCert, ip: "127.0.20.50" });
  echoUp = await startTcp(echo);
});

after(async () => {
  await f.server.close(200);
  await echoUp.close();
});

function target(over: Partial<PoolTarget> = {}): PoolTarget {
  return { source: clientCert, expected: [serverCert.identity], destination: { ip: f.address.ip, port: f.address.port }, ...over };
}

function nativePool(settings: Partial<HboneSettings> = {}): HbonePool<OutboundTunnel> {
  return createHbonePool({ pingIntervalMs: 0, ...settings }, "native");
}

/** An application connection as ztunnel's outbound listener holds it: [the app's end, the accepted end]. */
async function appConnection(): Promise<{ app: net.Socket; accepted: net.Socket }> {
  const srv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => srv.listen(0, CLIENT_IP, r));
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const app = net.connect({ host: CLIENT_IP, port: (srv.address() as net.AddressInfo).port, allowHalfOpen: true });
  const s = await accepted;
  srv.close();
  s.allowHalfOpen = true;
  app.on("error", () => {});
  return { app, accepted: s };
}

async function tunnel(pool: HbonePool<OutboundTunnel>, to = echoUp.address, t = target()): Promise<NativeTunnel> {
  const r = await pool.connect(t, { target: to, forwardedFor: { ip: CLIENT_IP, port: 4000 }, host: "svc.ns.svc.cluster.local" });
  if (!r.ok) throw r.error;
  assert.ok(r.value instanceof NativeTunnel);
  return r.value;
}

function resetSeen(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let code = "none";
    s.on("error", (e: NodeJS.ErrnoException) => (code = e.code ?? e.message));
    s.once("close", () => resolve(code));
    s.resume();
  });
}

describe("hbone native client", () => {
  test("a spliced application connection echoes 8 MiB, half-closes, and is counted", async () => {
    const pool = nativePool();
    try {
      const t = await tunnel(pool);
      assert.equal(t.security.protocol, "TLSv1.3");
      assert.equal(t.security.peerIdentity?.serviceAccount, serverCert.identity.serviceAccount);
      const { app, accepted } = await appConnection();
      const data = randomBytes(8 * 1024 * 1024);
      const spliced = t.splice(accepted);
      const got = readAll(app);
      app.end(data);
      assert.ok((await got).equals(data), "echo must be byte-identical");
      assert.deepEqual(await spliced, {});
      assert.equal(t.bytesRead, data.length);
      assert.equal(t.bytesWritten, data.length);
      const req = f.calls.at(-1)!;
      assert.equal(req.headers[":authority"], `${echoUp.address.ip}:${echoUp.address.port}`);
      assert.equal(req.headers["forwarded"], `for="${CLIENT_IP}:4000";host=svc.ns.svc.cluster.local`);
      assert.ok(await eventually(() => pool.stats().streamsActive === 0));
    } finally {
      await pool.close(500);
    }
  });

  test("half-close: the application's FIN reaches the upstream, which still answers", async () => {
    const up = await startTcp((s) => {
      const chunks: Buffer[] = [];
      s.on("data", (c: Buffer) => chunks.push(c));
      s.once("end", () => s.end(Buffer.concat(chunks).toString().toUpperCase()));
    });
    const pool = nativePool();
    try {
      const t = await tunnel(pool, up.address);
      const { app, accepted } = await appConnection();
      void t.splice(accepted);
      const got = readAll(app);
      app.end("hello");
      assert.equal((await got).toString(), "HELLO");
    } finally {
      await pool.close(500);
      await up.close();
    }
  });

  test("tunnels share one pooled connection; the server sees one session", async () => {
    const pool = nativePool();
    try {
      const ts = await Promise.all(Array.from({ length: 8 }, () => tunnel(pool)));
      assert.equal(pool.stats().connectionsOpened, 1, "eight simultaneous first requests, one dial");
      assert.equal(pool.stats().streamsActive, 8);
      assert.equal(f.server.stats().sessions >= 1, true);
      await Promise.all(
        ts.map(async (t, i) => {
          const { app, accepted } = await appConnection();
          void t.splice(accepted);
          const got = readAll(app);
          app.end(`n${i}`);
          assert.equal((await got).toString(), `n${i}`);
        }),
      );
      assert.ok(await eventually(() => pool.stats().streamsActive === 0));
      await tunnel(pool).then((t) => t.destroy());
      assert.equal(pool.stats().connectionsOpened, 1, "reused after the tunnels ended");
    } finally {
      await pool.close(500);
    }
  });

  test("a server whose SAN is not expected is refused before any CONNECT (HBONE_IDENTITY)", async () => {
    const pki = await testPki();
    const other = await pki.certFor("default", "someone-else");
    const pool = nativePool();
    const calls = f.calls.length;
    try {
      const r = await pool.connect(target({ expected: [other.identity] }), { target: echoUp.address });
      assert.ok(!r.ok);
      assert.equal(r.error.code, "HBONE_IDENTITY");
      assert.match(r.error.message, /not among the expected identities/);
      assert.equal(pool.stats().connections, 0);
      assert.equal(f.calls.length, calls, "no CONNECT reached the server");
    } finally {
      await pool.close(100);
    }
  });

  test("a non-200 answer is HBONE_STATUS with the status; connect failures are HBONE_CONNECT_FAILED", async () => {
    const pool = nativePool();
    try {
      const dead = await startTcp(() => {});
      const addr = dead.address;
      await dead.close();
      const r = await pool.connect(target(), { target: addr });
      assert.ok(!r.ok);
      assert.equal(r.error.code, "HBONE_STATUS");
      assert.equal(r.error.status, 503);
      const refused = await pool.connect(target({ destination: { ip: f.address.ip, port: addr.port } }), { target: echoUp.address });
      assert.ok(!refused.ok);
      assert.equal(refused.error.code, "HBONE_CONNECT_FAILED");
      assert.match(refused.error.message, /ECONNREFUSED/);
    } finally {
      await pool.close(100);
    }
  });

  test("after the server's GOAWAY the connection drains: open tunnels finish, new ones dial again", async () => {
    const g = await startServer({ cert: serverCert, ip: "127.0.20.51" });
    const pool = nativePool();
    try {
      const t0 = target({ destination: { ip: g.address.ip, port: g.address.port } });
      const t = await tunnel(pool, echoUp.address, t0);
      const { app, accepted } = await appConnection();
      void t.splice(accepted);
      const shutdown = g.server.close(3_000);
      assert.ok(await eventually(() => pool.dump()[0]?.connections[0]?.draining === true), "GOAWAY marks the connection draining");
      const r = await pool.connect(t0, { target: echoUp.address });
      assert.ok(!r.ok && r.error.code === "HBONE_CONNECT_FAILED", "not reused: dialled again, and the closed listener refuses");
      const got = readAll(app);
      app.end("still here");
      assert.equal((await got).toString(), "still here");
      await shutdown;
      assert.ok(await eventually(() => pool.stats().connections === 0));
    } finally {
      await pool.close(200);
      await g.server.close(100);
    }
  });

  test("an upstream reset reaches the application as a TCP reset", async () => {
    const up = await startTcp((s) => s.once("data", () => s.resetAndDestroy()));
    const pool = nativePool();
    try {
      const t = await tunnel(pool, up.address);
      const { app, accepted } = await appConnection();
      const spliced = t.splice(accepted);
      const seen = resetSeen(app);
      app.write("x");
      assert.equal(await seen, "ECONNRESET");
      assert.ok((await spliced).error, "the splice reports the reset");
    } finally {
      await pool.close(200);
      await up.close();
    }
  });

  test("an application reset reaches the upstream as a TCP reset", async () => {
    let upSeen: Promise<string> | undefined;
    const up = await startTcp((s) => {
      upSeen = resetSeen(s);
    });
    const pool = nativePool();
    try {
      const t = await tunnel(pool, up.address);
      const { app, accepted } = await appConnection();
      const spliced = t.splice(accepted);
      app.write("x");
      assert.ok(await eventually(() => upSeen !== undefined && t.bytesRead === 1));
      app.resetAndDestroy();
      assert.equal(await upSeen, "ECONNRESET");
      assert.ok((await spliced).error);
    } finally {
      await pool.close(200);
      await up.close();
    }
  });

  test("a rotated certificate (a new object) is used by new connections; open ones keep theirs", async () => {
    // Same identity, another CA: its roots do not verify this server, so a connection made with it fails.
    const rotated = await (await testPki()).other.certFor("default", "client");
    const pool = nativePool({ poolMaxStreamsPerConnection: 1 });
    try {
      const t = await tunnel(pool);
      const { app, accepted } = await appConnection();
      void t.splice(accepted);
      const r = await pool.connect(target({ source: rotated }), { target: echoUp.address });
      assert.ok(!r.ok);
      assert.equal(r.error.code, "HBONE_TLS", "the second connection was made with the rotated certificate's context");
      const got = readAll(app);
      app.end("old");
      assert.equal((await got).toString(), "old", "the open tunnel keeps its connection");
      assert.equal(pool.stats().connectionsOpened, 1);
    } finally {
      await pool.close(200);
    }
  });

  test("a tunnel as a Duplex (socket pair) echoes", async () => {
    const pool = nativePool();
    try {
      const t = await tunnel(pool);
      const d = t.duplex();
      const data = randomBytes(1024 * 1024);
      const got = readAll(d);
      d.end(data);
      assert.ok((await got).equals(data));
    } finally {
      await pool.close(500);
    }
  });
});
