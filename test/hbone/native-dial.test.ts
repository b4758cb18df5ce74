/**
 * The native engine's upstream dial (docs/hbone.md "The upstream dial"): `Dialer.dialFd`, a
 * connect made by the addon whose result is a descriptor, never a Node socket. Checked against
 * the Node dial it replaces: the source IP kept on loopback (127.x), ECONNREFUSED and the connect
 * timeout worded alike (the same 503 and log line), an abort closing the connect in flight; and
 * through the native HBONE server: a stream reset while its dial is in flight leaves no upstream
 * connection. A connect that stays pending is made against a listener nobody accepts from, whose
 * accept queue (backlog 0) is full, so the kernel drops further SYNs. Loopback only; the pending
 * listener is made by the addon's listenTransparent, which needs root (skipped otherwise).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { PlainDialer } from "../../src/proxy/transport/dialer.js";
import { nativeDial, nativeDialStats } from "../../src/proxy/transport/native-dial.js";
import type { UpstreamFd } from "../../src/proxy/transport/upstream-fd.js";
import { addonExports, nativeAvailable } from "../../src/common/native/native.js";
import { createHboneServer, type HboneInboundServer } from "../../src/proxy/hbone/engine.js";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import type { HboneDecision } from "../../src/proxy/hbone/server.js";
import { FRAME, CODE, RawH2, connectHeaders, rstStream, staticStatus } from "./h2-raw.js";
import { eventually, testPki } from "./fixture.js";

const UP_IP = "127.0.69.2";
const CLIENT_IP = "127.0.69.5";
const PENDING_IP = "127.0.69.3";
const SERVER_IP = "127.0.69.1";
const noAddon = nativeAvailable().ok ? false : "the native addon is not built (scripts/setup.sh)";
const noRoot = process.getuid?.() === 0 ? false : "the pending listener needs IP_TRANSPARENT (root)";

let up: net.Server;
let upPort = 0;
const peers: string[] = [];

before(async () => {
  up = net.createServer({ allowHalfOpen: true }, (s) => {
    peers.push(String(s.remoteAddress));
    s.on("error", () => {});
    s.pipe(s);
  });
  up.listen(0, UP_IP);
  await once(up, "listening");
  upPort = (up.address() as net.AddressInfo).port;
});

after(() => up.close());

/** A free port on UP_IP (bound, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, UP_IP);
  await once(s, "listening");
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Reads `n` bytes echoed back on a dialled descriptor (wrapped in a socket only here, in the test). */
async function echoOver(u: UpstreamFd, text: string): Promise<string> {
  const s = u.toSocket();
  const got: Buffer[] = [];
  s.on("data", (d: Buffer) => got.push(d));
  s.end(text);
  await once(s, "end");
  s.destroy();
  return Buffer.concat(got).toString();
}

/**
 * A listener whose accept queue is full: connects to it stay in SYN_SENT. `accepted()` adopts
 * the queue into Node at the end and counts what had really connected.
 */
async function pendingListener(): Promise<{ port: number; accepted(): Promise<number>; close(): void }> {
  const a = addonExports();
  assert.ok(a.ok);
  const raw = a.value as { listenTransparent(ip: string, port: number, backlog: number, mark: number): number };
  let fd = -1;
  let port = 0;
  for (let i = 0; i < 20 && fd < 0; i++) {
    port = 20000 + Math.floor(Math.random() * 20000);
    try {
      fd = raw.listenTransparent(PENDING_IP, port, 0, 0);
    } catch {
      fd = -1;
    }
  }
  assert.ok(fd >= 0, "no port for the pending listener");
  // Fill the accept queue (backlog 0 holds one), plus one SYN that waits.
  const fillers = [0, 1].map(() => net.connect({ host: PENDING_IP, port }).on("error", () => {}));
  await once(fillers[0]!, "connect");
  const srv = net.createServer();
  return {
    port,
    accepted: async () => {
      for (const f of fillers) f.destroy();
      let n = 0;
      srv.on("connection", (s) => {
        n++;
        s.destroy();
      });
      srv.listen({ fd });
      await new Promise((r) => setTimeout(r, 200));
      return n;
    },
    close: () => {
      for (const f of fillers) f.destroy();
      srv.close();
    },
  };
}

describe("native upstream dial (Dialer.dialFd)", { skip: noAddon }, () => {
  test("a plain dial bound to the client's loopback IP keeps it as the source and carries bytes", async () => {
    const before = nativeDialStats()!;
    const d = new PlainDialer({ bindSource: true, timeoutMs: 2_000 });
    const r = await d.dialFd({ target: { ip: UP_IP, port: upPort }, sourceIp: CLIENT_IP });
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    assert.ok(r.value.fd >= 0);
    assert.equal(await echoOver(r.value, "over an fd"), "over an fd");
    assert.equal(peers.at(-1), CLIENT_IP, "the upstream sees the client's IP");
    const after = nativeDialStats()!;
    assert.equal(after.connected - before.connected, 1);
    assert.equal(after.inFlight, 0);
  });

  test("without bindSource the kernel picks the source", async () => {
    const r = await new PlainDialer({ bindSource: false, timeoutMs: 2_000 }).dialFd({
      target: { ip: UP_IP, port: upPort },
      sourceIp: CLIENT_IP,
    });
    assert.ok(r.ok);
    assert.equal(await echoOver(r.value, "x"), "x");
    assert.notEqual(peers.at(-1), CLIENT_IP);
  });

  test("a client IP that is not local (a peer on another host) is not kept: the kernel picks the source, both forms", async () => {
    // 192.0.2.7 (TEST-NET-1) is no address of this host: bind says EADDRNOTAVAIL. That used to
    // fail the dial ("a bad source address fails at once"), so a peer ztunnel on another host got
    // 503 for every tunnel without capture (found by test/interop/upstream-ztunnel).
    const d = new PlainDialer({ bindSource: true, timeoutMs: 2_000 });
    const req = { target: { ip: UP_IP, port: upPort }, sourceIp: "192.0.2.7" };
    const viaNode = await d.dial(req);
    assert.ok(viaNode.ok, !viaNode.ok ? viaNode.error.message : "");
    viaNode.value.end("node form");
    const got: Buffer[] = [];
    viaNode.value.on("data", (b: Buffer) => got.push(b));
    await once(viaNode.value, "end");
    assert.equal(Buffer.concat(got).toString(), "node form");
    assert.notEqual(peers.at(-1), "192.0.2.7");
    const viaFd = await d.dialFd(req);
    assert.ok(viaFd.ok, !viaFd.ok ? viaFd.error.message : "");
    assert.equal(await echoOver(viaFd.value, "fd form"), "fd form");
    assert.notEqual(peers.at(-1), "192.0.2.7");
    assert.equal(nativeDialStats()!.inFlight, 0, "no dial left in flight");
  });

  test("ECONNREFUSED is worded as the Node dial words it, with the errno as the cause's code", async () => {
    const port = await freePort();
    const d = new PlainDialer({ bindSource: true, timeoutMs: 2_000 });
    const req = { target: { ip: UP_IP, port }, sourceIp: CLIENT_IP };
    const [viaNode, viaFd] = [await d.dial(req), await d.dialFd(req)];
    assert.ok(!viaNode.ok && !viaFd.ok);
    // The local port differs (the cursor moved on); the rest is the same words.
    const noPort = (m: string) => m.replace(/:\d+\)$/, ")");
    assert.equal(noPort(viaFd.error.message), noPort(viaNode.error.message));
    assert.match(
      viaFd.error.message,
      new RegExp(`^connect ${UP_IP}:${port}: connect ECONNREFUSED ${UP_IP}:${port} - Local \\(${CLIENT_IP}:\\d+\\)$`),
    );
    assert.equal((viaFd.error.cause as { code?: string }).code, "ECONNREFUSED");
  });

  test("an explicit source port in use by a Node socket to another destination is shared (SO_REUSEADDR, as libuv binds)", async () => {
    const other = net.createServer((s) => s.destroy());
    other.listen(0, UP_IP);
    await once(other, "listening");
    const node = net.connect({ host: UP_IP, port: (other.address() as net.AddressInfo).port, localAddress: CLIENT_IP });
    node.on("error", () => {});
    await once(node, "connect");
    try {
      const r = await nativeDial({
        target: { ip: UP_IP, port: upPort },
        source: { ip: CLIENT_IP, port: node.localPort! },
        timeoutMs: 2_000,
      });
      assert.ok(r.ok, !r.ok ? r.error.message : "");
      assert.equal(await echoOver(r.value, "shared port"), "shared port");
    } finally {
      node.destroy();
      other.close();
    }
  });

  describe("connects that stay pending", { skip: noRoot }, () => {
    test("the connect timeout is the C timer's, worded as the Node dial's", async () => {
      const p = await pendingListener();
      try {
        const d = new PlainDialer({ bindSource: false, timeoutMs: 300 });
        const req = { target: { ip: PENDING_IP, port: p.port } };
        const t0 = Date.now();
        const viaFd = await d.dialFd(req);
        const took = Date.now() - t0;
        const viaNode = await d.dial(req);
        assert.ok(!viaFd.ok && !viaNode.ok);
        assert.equal(viaFd.error.message, `connect ${PENDING_IP}:${p.port}: timed out after 300 ms`);
        assert.equal(viaFd.error.message, viaNode.error.message);
        assert.ok(took >= 280 && took < 1_500, `took ${took} ms`);
        assert.equal(nativeDialStats()!.inFlight, 0);
      } finally {
        p.close();
      }
    });

    test("an abort closes the connect in flight: nothing reaches the upstream", async () => {
      const p = await pendingListener();
      const before = nativeDialStats()!;
      const abort = new AbortController();
      const pending = new PlainDialer({ bindSource: false, timeoutMs: 5_000 }).dialFd({
        target: { ip: PENDING_IP, port: p.port },
        signal: abort.signal,
      });
      await eventually(() => nativeDialStats()!.inFlight === 1, 1_000);
      abort.abort();
      const r = await pending;
      assert.ok(!r.ok);
      assert.equal(r.error.message, `connect ${PENDING_IP}:${p.port}: aborted`);
      const after = nativeDialStats()!;
      assert.equal(after.cancelled - before.cancelled, 1);
      assert.equal(after.inFlight, 0);
      // Only the filler that completed before the test is in the queue; the cancelled SYN is gone.
      assert.equal(await p.accepted(), 1);
      p.close();
    });
  });
});

describe("native HBONE server: the upstream of a stream reset before its dial completes", { skip: noAddon || noRoot }, () => {
  let server: HboneInboundServer;
  let address: { ip: string; port: number };
  let clientCert: WorkloadCertificate;
  let serverCert: WorkloadCertificate;
  const results: string[] = [];
  let target = { ip: UP_IP, port: 0 };

  before(async () => {
    const pki = await testPki();
    serverCert = await pki.certFor("default", "server");
    clientCert = await pki.certFor("default", "client");
    const dialer = new PlainDialer({ bindSource: true, timeoutMs: 5_000 });
    server = createHboneServer(
      {
        certificateFor: (ip) => (ip === SERVER_IP ? serverCert : undefined),
        trustDomains: ["cluster.local"],
        // As inbound.ts: the engine's form, dialled from the client's address.
        handler: async (req): Promise<HboneDecision> => {
          assert.equal(req.upstreamForm, "fd");
          const up = await dialer.dialFd({ target, sourceIp: CLIENT_IP, signal: req.signal });
          results.push(up.ok ? "connected" : up.error.message);
          return up.ok ? { kind: "tunnel", upstream: up.value } : { kind: "reject", status: 503, reason: up.error.message };
        },
      },
      "native",
    );
    address = await server.listen(SERVER_IP, 0);
  });

  after(() => server.close(200));

  test("a tunnel's upstream is the addon's fd: bytes flow, the upstream sees the client IP", async () => {
    target = { ip: UP_IP, port: upPort };
    const before = nativeDialStats()!;
    const r = await RawH2.connect(address, clientCert, [serverCert.identity]);
    try {
      r.send(connectHeaders(1, `${UP_IP}:${upPort}`));
      const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === 1);
      assert.equal(h && staticStatus(h), 200);
      assert.equal(peers.at(-1), CLIENT_IP);
      assert.equal(nativeDialStats()!.connected - before.connected, 1);
      r.send(rstStream(1, CODE.CANCEL));
    } finally {
      r.destroy();
    }
    assert.ok(await eventually(() => server.stats().streams === 0));
  });

  test("RST_STREAM while the connect is in flight cancels it: no upstream connection, the stream counted as an early reset", async () => {
    const p = await pendingListener();
    target = { ip: PENDING_IP, port: p.port };
    const before = nativeDialStats()!;
    const early = server.stats().streamsResetEarly;
    const r = await RawH2.connect(address, clientCert, [serverCert.identity]);
    try {
      r.send(connectHeaders(1, `${PENDING_IP}:${p.port}`));
      assert.ok(await eventually(() => nativeDialStats()!.inFlight === 1, 2_000), "the dial should be in flight");
      r.send(rstStream(1, CODE.CANCEL));
      assert.ok(await eventually(() => results.at(-1)?.endsWith(": aborted") === true, 2_000), `handler results ${results.join(", ")}`);
      const after = nativeDialStats()!;
      assert.equal(after.cancelled - before.cancelled, 1);
      assert.equal(after.inFlight, 0);
      assert.equal(server.stats().streamsResetEarly - early, 1);
      assert.equal(await p.accepted(), 1, "only the queue's filler ever connected");
    } finally {
      r.destroy();
      p.close();
    }
  });

  test("ECONNREFUSED answers 503", async () => {
    target = { ip: UP_IP, port: await freePort() };
    const r = await RawH2.connect(address, clientCert, [serverCert.identity]);
    try {
      r.send(connectHeaders(1, `${target.ip}:${target.port}`));
      const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === 1);
      assert.ok(h, "an answer");
      // 503 is not in HPACK's static table: the literal ":status: 503" (index 8-14 are 200..500).
      assert.equal(staticStatus(h), undefined);
      assert.ok(h.payload.includes(Buffer.from("503")), "answered 503");
      assert.match(results.at(-1) ?? "", /connect ECONNREFUSED/);
    } finally {
      r.destroy();
    }
  });
});
