/**
 * HBONE data path end to end: a client tunnel through the pool to an HboneServer whose handler
 * connects to real TCP upstreams on loopback. Covers bytes both ways, half-close in each
 * direction, a 64 MiB hashed transfer, backpressure reaching the sender, resets, and the
 * status codes of rejected CONNECTs; after each test no server stream or upstream socket leaks.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type net from "node:net";
import type { Duplex } from "node:stream";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import type { HbonePool, PoolTarget } from "../../src/proxy/hbone/pool.js";
import type { OutboundTunnel } from "../../src/proxy/hbone/engine.js";
import { type TunnelRequest } from "../../src/proxy/hbone/headers.js";
import {
  connectToTarget,
  echo,
  eventually,
  readAll,
  resetTunnel,
  startServer,
  startTcp,
  testPki,
  testPool,
  tunnelDuplex,
  tunnelRstCode,
  type ServerFixture,
  UPSTREAM_IP,
} from "./fixture.js";

let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let f: ServerFixture;
let pool: HbonePool<OutboundTunnel>;
let echoUp: Awaited<ReturnType<typeof startTcp>>;

function target(): PoolTarget {
  return { source: clientCert, expected: [serverCert.identity], destination: f.address };
}

async function tunnel(req: TunnelRequest): Promise<Duplex> {
  const r = await pool.connect(target(), req);
  if (!r.ok) throw r.error;
  return tunnelDuplex(r.value);
}

before(async () => {
  const pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  f = await startServer({ cert: serverCert });
  pool = testPool();
  echoUp = await startTcp(echo);
});

afterEach(async () => {
  f.setHandler(connectToTarget);
  assert.ok(await eventually(() => f.server.stats().streams === 0), `server streams leaked: ${JSON.stringify(f.server.stats())}`);
  assert.ok(await eventually(() => echoUp.sockets.size === 0), "upstream sockets leaked");
  assert.ok(await eventually(() => pool.stats().streamsActive === 0), `pool streams leaked: ${JSON.stringify(pool.stats())}`);
});

after(async () => {
  await pool.close(500);
  await f.server.close(500);
  await echoUp.close();
  assert.equal(f.server.stats().connections, 0);
});

describe("hbone tunnel data path", () => {
  test("carries bytes both ways and passes the request headers to the handler", async () => {
    const t = await tunnel({
      target: echoUp.address,
      forwardedFor: { ip: "10.1.2.3", port: 4567 },
      host: "echo.default.svc.cluster.local",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      baggage: "k=v",
    });
    t.end("ping over hbone");
    assert.equal((await readAll(t)).toString(), "ping over hbone");
    const call = f.calls.at(-1)!;
    assert.equal(call.method, "CONNECT");
    assert.equal(call.authority, `${UPSTREAM_IP}:${echoUp.address.port}`);
    assert.deepEqual(call.target, echoUp.address);
    assert.deepEqual(call.forwarded, { for: { ip: "10.1.2.3", port: 4567 }, host: "echo.default.svc.cluster.local" });
    assert.equal(call.headers["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal(call.headers["baggage"], "k=v");
    assert.deepEqual(call.peerIdentity, clientCert.identity);
    assert.equal(call.localAddress.ip, f.address.ip);
    assert.equal(call.localAddress.port, f.address.port);
  });

  test("client half-close: END_STREAM becomes FIN, and the upstream can still answer after it", async () => {
    const up = await startTcp((s) => {
      const chunks: Buffer[] = [];
      s.on("data", (c: Buffer) => chunks.push(c));
      s.once("end", () => setTimeout(() => s.end(`got ${Buffer.concat(chunks).length} bytes then fin`), 50));
    });
    try {
      const t = await tunnel({ target: up.address });
      t.end(Buffer.alloc(1000, 1));
      assert.equal((await readAll(t)).toString(), "got 1000 bytes then fin");
    } finally {
      await up.close();
    }
  });

  test("upstream half-close: FIN becomes END_STREAM, and the client can still send after it", async () => {
    let received: Promise<string> | undefined;
    const up = await startTcp((s) => {
      s.end("early bye");
      received = readAll(s).then((b) => b.toString());
    });
    try {
      const t = await tunnel({ target: up.address });
      const fromServer = await readAll(t);
      assert.equal(fromServer.toString(), "early bye");
      t.end("late data after the peer's fin");
      assert.equal(await received, "late data after the peer's fin");
    } finally {
      await up.close();
    }
  });

  test("64 MiB each way with backpressure arrives intact (sha256)", async () => {
    const block = randomBytes(1024 * 1024);
    const t = await tunnel({ target: echoUp.address });
    const sent = createHash("sha256");
    const got = createHash("sha256");
    let gotBytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      t.on("data", (c: Buffer) => {
        got.update(c);
        gotBytes += c.length;
      });
      t.once("end", resolve);
      t.once("error", reject);
    });
    for (let i = 0; i < 64; i++) {
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(i, 0);
      sent.update(chunk);
      if (!t.write(chunk)) await new Promise((r) => t.once("drain", r));
    }
    t.end();
    await done;
    assert.equal(gotBytes, 64 * 1024 * 1024);
    assert.equal(got.digest("hex"), sent.digest("hex"));
  });

  test("backpressure: a stalled upstream stops the client sender within the flow-control windows", async () => {
    let upstreamSocket: net.Socket | undefined;
    const up = await startTcp((s) => {
      upstreamSocket = s;
      s.pause();
    });
    try {
      const t = await tunnel({ target: up.address });
      const chunk = Buffer.alloc(64 * 1024);
      let accepted = 0;
      const deadline = Date.now() + 1500;
      // Write while the stream accepts; wait for 'drain' at most 200 ms, bounded in total time.
      while (Date.now() < deadline && accepted < 256 * 1024 * 1024) {
        if (t.write(chunk)) {
          accepted += chunk.length;
          continue;
        }
        accepted += chunk.length;
        const drained = await Promise.race([
          new Promise<boolean>((r) => t.once("drain", () => r(true))),
          new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
        ]);
        if (!drained) break;
      }
      // Stream window (4 MiB) + what the kernel buffers on the two loopback hops (autotuned, a
      // few MiB each way) + Node's stream buffers; about 6 MiB here. Without backpressure the
      // loop would push 256 MiB.
      assert.ok(accepted < 32 * 1024 * 1024, `sender was not held back: ${accepted} bytes accepted`);
      assert.ok(accepted >= 4 * 1024 * 1024, `the stream window should have been usable: ${accepted} bytes`);
      // Held back, nothing may spin: the native client's application socket stays readable with
      // no window left, and its poll must then not watch it (a busy loop here costs a CPU).
      const cpu0 = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 500));
      const cpu = process.cpuUsage(cpu0);
      assert.ok(cpu.user + cpu.system < 150_000, `busy while held back: ${(cpu.user + cpu.system) / 1000} ms of CPU in 500 ms`);
      // Releasing the upstream lets everything through.
      let drainedBytes = 0;
      upstreamSocket!.on("data", (c: Buffer) => (drainedBytes += c.length));
      upstreamSocket!.resume();
      t.end();
      assert.ok(await eventually(() => drainedBytes === accepted, 10_000), `upstream got ${drainedBytes} of ${accepted}`);
      t.destroy();
    } finally {
      await up.close();
    }
  });

  test("backpressure: a client that stops reading stops the upstream sender within the flow-control windows", async () => {
    let written = 0;
    let stop = false;
    let upstreamSocket: net.Socket | undefined;
    const up = await startTcp((s) => {
      upstreamSocket = s;
      const chunk = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        while (!stop && written < 256 * 1024 * 1024) {
          written += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", pump);
        }
      };
      pump();
    });
    try {
      const t = await tunnel({ target: up.address });
      t.pause();
      await new Promise((r) => setTimeout(r, 1500));
      const held = written;
      assert.ok(held < 32 * 1024 * 1024, `upstream sender was not held back: ${held} bytes written`);
      assert.ok(held >= 4 * 1024 * 1024, `the stream window should have been usable: ${held} bytes`);
      // The native server's upstream socket stays readable with no window left: no busy loop.
      const cpu0 = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 500));
      const cpu = process.cpuUsage(cpu0);
      assert.ok(cpu.user + cpu.system < 150_000, `busy while held back: ${(cpu.user + cpu.system) / 1000} ms of CPU in 500 ms`);
      stop = true;
      let got = 0;
      t.on("data", (c: Buffer) => (got += c.length));
      t.resume();
      upstreamSocket!.end();
      assert.ok(await eventually(() => got === written, 10_000), `client got ${got} of ${written}`);
      t.destroy();
    } finally {
      await up.close();
    }
  });

  test("an upstream reset resets the HBONE stream", async () => {
    const up = await startTcp((s) => s.once("data", () => s.resetAndDestroy()));
    try {
      const t = await tunnel({ target: up.address });
      const closed = new Promise<void>((r) => t.once("close", r));
      t.on("error", () => {});
      t.write("trigger");
      await closed;
      assert.notEqual(tunnelRstCode(t), 0, "stream should end with RST_STREAM, not a clean END_STREAM");
    } finally {
      await up.close();
    }
  });

  test("a client stream reset tears the upstream socket down", async () => {
    const up = await startTcp(echo);
    try {
      const t = await tunnel({ target: up.address });
      t.write("x");
      assert.ok(await eventually(() => up.sockets.size === 1));
      resetTunnel(t); // RST_STREAM(CANCEL)
      assert.ok(await eventually(() => up.sockets.size === 0), "upstream socket should be closed after RST_STREAM");
    } finally {
      await up.close();
    }
  });
});

describe("hbone CONNECT answers", () => {
  const cases: {
    name: string;
    status: number;
    handler?: ServerFixture["setHandler"] extends (h: infer H) => void ? H : never;
    target?: () => { ip: string; port: number };
  }[] = [
    { name: "503 when the upstream refuses the connection", status: 503, target: () => ({ ip: UPSTREAM_IP, port: 1 }) },
    {
      name: "503 when the handler does not know the target",
      status: 503,
      handler: () => Promise.resolve({ kind: "reject", status: 503, reason: "unknown workload" }),
    },
    {
      name: "401 when authorization denies",
      status: 401,
      handler: () => Promise.resolve({ kind: "reject", status: 401, reason: "denied by policy" }),
    },
    {
      name: "400 when the handler finds the target mismatched",
      status: 400,
      handler: () => Promise.resolve({ kind: "reject", status: 400, reason: "target mismatch" }),
    },
    { name: "503 when the handler throws", status: 503, handler: () => Promise.reject(new Error("boom")) },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      if (c.handler) f.setHandler(c.handler);
      const r = await pool.connect(target(), { target: c.target?.() ?? echoUp.address });
      assert.ok(!r.ok, "tunnel should have been refused");
      assert.equal(r.error.code, "HBONE_STATUS");
      assert.equal(r.error.status, c.status);
    });
  }

  test("200 is only sent once the upstream connect finished", async () => {
    let connectedAt = 0;
    f.setHandler(async (req) => {
      await new Promise((r) => setTimeout(r, 150));
      const d = await connectToTarget(req);
      connectedAt = Date.now();
      return d;
    });
    const r = await pool.connect(target(), { target: echoUp.address });
    const answeredAt = Date.now();
    assert.ok(r.ok);
    assert.ok(connectedAt > 0 && answeredAt >= connectedAt);
    const d = tunnelDuplex(r.value);
    d.end();
    await readAll(d);
  });

  test("the handler sees an abort when the client gives up before the decision", async () => {
    let aborted = false;
    f.setHandler(
      (req) =>
        new Promise((resolve) => {
          req.signal.addEventListener("abort", () => {
            aborted = true;
            resolve({ kind: "reject", status: 503, reason: "gone" });
          });
        }),
    );
    const ac = new AbortController();
    const pending = pool.connect(target(), { target: echoUp.address }, ac.signal);
    await eventually(() => f.server.stats().streams === 1);
    ac.abort();
    const r = await pending;
    assert.ok(!r.ok && r.error.code === "HBONE_STREAM");
    assert.ok(await eventually(() => aborted), "handler's signal should abort");
  });
});
