/**
 * A CONNECT the server refuses unprocessed (REFUSED_STREAM) is retried by the pool on another
 * connection, and the refusing connection takes no new streams for a while (docs/hbone.md
 * "Native engine", the connection-rate ECONNRESETs). The server's per-connection dial budget
 * (connectBurst/connectsPerSecond) refuses streams past it; before this, every tunnel past the
 * budget failed and the outbound reset its client, although the pool could simply spread the
 * load over a second connection. Here the budget is 5 dials per connection (refilled at 1/s), so
 * 20 quick tunnels need four connections. Real TLS and HTTP/2 on 127.0.20.0/24 (fixture.ts), on
 * the engine WEFT_HBONE_ENGINE names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { HbonePool, type PoolTarget } from "../../src/proxy/hbone/pool.js";
import { readAll, startServer, withClientServerEcho } from "./fixture.js";

const t = withClientServerEcho();

test("tunnels past a connection's dial budget go to another connection instead of failing", async () => {
  const f = await startServer({ cert: t.serverCert, settings: { connectBurst: 5, connectsPerSecond: 1 } });
  const pool = new HbonePool();
  const target: PoolTarget = { source: t.clientCert, expected: [t.serverCert.identity], destination: f.address };
  try {
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await pool.connect(target, { target: t.echoUp.address });
      if (!r.ok) {
        failures.push(r.error.message);
        continue;
      }
      r.value.end(`tunnel ${i}`);
      assert.equal((await readAll(r.value)).toString(), `tunnel ${i}`);
    }
    assert.deepEqual(failures, [], "every tunnel was established");
    const server = f.server.stats();
    const client = pool.stats();
    assert.ok(server.streamsRefused >= 3, `the server refused past its budget (${server.streamsRefused})`);
    assert.equal(client.streamsRefused, server.streamsRefused, "each refusal was seen and retried by the pool");
    assert.ok(client.connectionsOpened >= 4, `the load was spread over new connections (${client.connectionsOpened})`);
    assert.equal(client.streamsOpened, 20);
  } finally {
    await pool.close(200);
    await f.server.close(200);
  }
});

test("a tunnel refused on its retry too fails with the refusal: two attempts, two connections, no more", async () => {
  const f = await startServer({ cert: t.serverCert });
  // Every CONNECT is reset with REFUSED_STREAM before its answer, on whichever connection.
  f.setHandler((req) => {
    req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    return Promise.resolve({ kind: "reject", status: 503, reason: "refused by the test" });
  });
  const pool = new HbonePool();
  const target: PoolTarget = { source: t.clientCert, expected: [t.serverCert.identity], destination: f.address };
  try {
    const r = await pool.connect(target, { target: t.echoUp.address });
    assert.equal(r.ok, false);
    assert.equal(r.ok ? undefined : r.error.refusedStream, true, "the refusal is reported as such");
    assert.equal(f.calls.length, 2, "one retry, not more");
    assert.equal(pool.stats().streamsRefused, 2);
    assert.equal(pool.stats().connectionsOpened, 2, "the retry went to a second connection, not the refusing one");
  } finally {
    await pool.close(200);
    await f.server.close(200);
  }
});
