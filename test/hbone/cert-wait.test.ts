/**
 * A connection to a workload whose certificate is still being issued (a pod enrolled a moment
 * ago) waits for it, bounded by the handshake timeout, as upstream ztunnel's inbound awaits its
 * certificate fetch; before, the server closed such a connection at once and the first calls
 * to a new pod were reset. An address that is no local workload's is still closed at once.
 * Real TLS and HTTP/2 on 127.0.20.0/24 (fixture.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { HbonePool, type PoolTarget } from "../../src/proxy/hbone/pool.js";
import { readAll, startServer, withClientServerEcho } from "./fixture.js";

const t = withClientServerEcho();

async function attempt(
  awaitCertificateFor: (ip: string) => Promise<WorkloadCertificate | undefined> | undefined,
  handshakeTimeoutMs = 5_000,
): Promise<{ ok: boolean; ms: number; rejected: number; error?: string }> {
  const f = await startServer({
    cert: t.serverCert,
    certificateFor: () => undefined,
    awaitCertificateFor,
    settings: { handshakeTimeoutMs },
  });
  const pool = new HbonePool();
  const target: PoolTarget = { source: t.clientCert, expected: [t.serverCert.identity], destination: f.address };
  const t0 = Date.now();
  try {
    const r = await pool.connect(target, { target: t.echoUp.address });
    const ms = Date.now() - t0;
    if (!r.ok) return { ok: false, ms, rejected: f.server.stats().connectionsRejected, error: r.error.message };
    r.value.end("through");
    assert.equal((await readAll(r.value)).toString(), "through");
    return { ok: true, ms, rejected: f.server.stats().connectionsRejected };
  } finally {
    await pool.close(200);
    await f.server.close(200);
  }
}

test("the certificate issued 400 ms after the client connected: the connection waits and the tunnel works", async () => {
  const r = await attempt(() => new Promise((resolve) => setTimeout(() => resolve(t.serverCert), 400)));
  assert.ok(r.ok, r.error);
  assert.ok(r.ms >= 350, `the handshake waited for the certificate (${r.ms} ms)`);
  assert.equal(r.rejected, 0);
});

test("no local workload owns the address: closed at once, counted as rejected", async () => {
  const r = await attempt(() => undefined);
  assert.equal(r.ok, false);
  assert.ok(r.ms < 1_000, `closed at once (${r.ms} ms)`);
  assert.equal(r.rejected, 1);
});

test("the certificate never comes (or its fetch fails): closed at the handshake timeout", async () => {
  const never = await attempt(() => new Promise(() => {}), 600);
  assert.equal(never.ok, false);
  assert.ok(never.ms >= 550 && never.ms < 3_000, `closed after the 600 ms handshake timeout (${never.ms} ms)`);
  assert.equal(never.rejected, 1);
  const failed = await attempt(() => Promise.resolve(undefined));
  assert.equal(failed.ok, false);
  assert.equal(failed.rejected, 1);
});
