/**
 * Terminated tunnels (the waypoint's `terminate` decision) on the engine WEFT_HBONE_ENGINE names:
 * the handler gets the tunnel's bytes as a Duplex (Node's HTTP/2 stream, or on the native engine a
 * socket on one end of a socket pair the addon splices with the stream) and a reset. Bytes both
 * ways with half-close, a client's reset reaching the terminated side, and the terminated side's
 * reset reaching the client as RST_STREAM, not as a clean end.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash, randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import type { HbonePool } from "../../src/proxy/hbone/pool.js";
import type { OutboundTunnel } from "../../src/proxy/hbone/engine.js";
import type { TerminatedTunnel } from "../../src/proxy/hbone/server.js";
import {
  TEST_ENGINE,
  connectToTarget,
  eventually,
  readAll,
  resetTunnel,
  startServer,
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
/** The tunnels the handler terminated, in order. */
let served: TerminatedTunnel[] = [];

function terminateWith(serve: (t: TerminatedTunnel) => void): void {
  f.setHandler(() =>
    Promise.resolve({
      kind: "terminate",
      serve: (t) => {
        served.push(t);
        serve(t);
      },
    }),
  );
}

async function tunnel(): Promise<Duplex> {
  const r = await pool.connect(
    { source: clientCert, expected: [serverCert.identity], destination: f.address },
    { target: { ip: UPSTREAM_IP, port: 8080 } },
  );
  if (!r.ok) throw r.error;
  return tunnelDuplex(r.value);
}

before(async () => {
  const pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  f = await startServer({ cert: serverCert });
  pool = testPool();
});

afterEach(async () => {
  f.setHandler(connectToTarget);
  served = [];
  assert.ok(await eventually(() => f.server.stats().streams === 0), `server streams leaked: ${JSON.stringify(f.server.stats())}`);
  assert.ok(await eventually(() => pool.stats().streamsActive === 0), `pool streams leaked: ${JSON.stringify(pool.stats())}`);
});

after(async () => {
  await pool.close(500);
  await f.server.close(500);
});

describe(`terminated tunnels (${TEST_ENGINE} engine)`, () => {
  test("bytes both ways with half-close: the terminated side reads to the client's end, answers, ends cleanly", async () => {
    terminateWith((t) => {
      const hash = createHash("sha256");
      let n = 0;
      t.stream.on("data", (c: Buffer) => {
        hash.update(c);
        n += c.length;
      });
      t.stream.once("end", () => t.stream.end(`${n} ${hash.digest("hex")}\n` + "x".repeat(1 << 20)));
    });
    const c = await tunnel();
    const payload = randomBytes(4 << 20);
    c.end(payload);
    const reply = (await readAll(c)).toString();
    const [line, rest] = [reply.slice(0, reply.indexOf("\n")), reply.slice(reply.indexOf("\n") + 1)];
    assert.equal(line, `${payload.length} ${createHash("sha256").update(payload).digest("hex")}`);
    assert.equal(rest.length, 1 << 20);
    assert.equal(tunnelRstCode(c), 0, "a clean end, not a reset");
    if (TEST_ENGINE === "native") assert.ok(served[0]!.stream instanceof net.Socket, "native: a Node socket on a native handle");
  });

  test("a client's reset reaches the terminated side, which is closed", async () => {
    terminateWith((t) => t.stream.on("error", () => undefined));
    const c = await tunnel();
    c.on("error", () => undefined);
    c.write("hello");
    assert.ok(await eventually(() => served.length === 1));
    const s = served[0]!.stream;
    await new Promise<void>((r) => s.once("data", () => r()));
    resetTunnel(c);
    assert.ok(await eventually(() => s.destroyed), "the terminated stream is destroyed after the client's reset");
  });

  test("the terminated side's reset reaches the client as RST_STREAM, not a clean end", async () => {
    terminateWith((t) => t.stream.once("data", () => t.reset(0x8)));
    const c = await tunnel();
    c.on("error", () => undefined);
    c.resume();
    c.write("hello");
    await new Promise((r) => c.once("close", r));
    assert.equal(tunnelRstCode(c), 0x8, "the client's stream ended with RST_STREAM(CANCEL)");
    assert.ok(await eventually(() => served[0]!.stream.destroyed), "the terminated stream is destroyed by its reset");
  });
});
