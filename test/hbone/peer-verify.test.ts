/**
 * Server-side client-chain verification on real TLS sockets, including its cache: a chain that
 * verified once is still re-checked against the clock, and a chain to a foreign root is never
 * accepted, cached or not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { verifyPeerChain } from "../../src/proxy/hbone/peer-verify.js";
import { clientTlsOptions, serverTlsOptions } from "../../src/proxy/hbone/tls-context.js";
import { SERVER_IP, testPki } from "./fixture.js";

/** Runs `check` on the server side of one mTLS connection from `client` to `server`. */
async function onServerSocket<T>(server: WorkloadCertificate, client: WorkloadCertificate, check: (s: tls.TLSSocket) => T): Promise<T> {
  let result!: T;
  // Server sockets are made the way HboneServer makes them (no tls.Server, no SNI).
  const srv = net.createServer((raw) => {
    const s = new tls.TLSSocket(raw, serverTlsOptions(server));
    s.on("error", () => {});
    s.once("secure", () => {
      result = check(s);
      s.destroy();
    });
  });
  await new Promise<void>((r) => srv.listen(0, SERVER_IP, r));
  const port = (srv.address() as { port: number }).port;
  const c = tls.connect({ host: SERVER_IP, port, ...clientTlsOptions(client, { expected: [server.identity] }) });
  c.on("error", () => {});
  c.resume();
  await new Promise((r) => c.once("close", r));
  await new Promise((r) => srv.close(r));
  return result;
}

test("a verified chain is re-checked against the clock on every connection (cache keeps only the window)", async () => {
  const pki = await testPki();
  const server = await pki.certFor("default", "server");
  const client = await pki.certFor("default", "client", 3600);
  const results = await onServerSocket(server, client, (s) => [
    verifyPeerChain(s, server),
    verifyPeerChain(s, server), // cached
    verifyPeerChain(s, server, new Date(Date.now() + 2 * 3600 * 1000)), // leaf expired by then
    verifyPeerChain(s, server, new Date(Date.now() - 3600 * 1000)), // before the leaf existed
  ]);
  assert.ok(results[0]!.ok);
  assert.ok(results[1]!.ok);
  assert.ok(!results[2]!.ok, "expired chain must fail even when cached");
  assert.ok(!results[3]!.ok, "not-yet-valid chain must fail even when cached");
});

test("a chain to a foreign root fails verification, with the reason", async () => {
  const pki = await testPki();
  const server = await pki.certFor("default", "server");
  // Presents a chain to the impostor root but trusts ours, so the handshake reaches our check.
  const stranger = { ...(await pki.impostor.certFor("default", "client")), rootsPem: server.rootsPem };
  const r = await onServerSocket(server, stranger, (s) => [verifyPeerChain(s, server), verifyPeerChain(s, server)]);
  for (const x of r) {
    assert.ok(!x.ok);
    assert.equal(x.error.code, "HBONE_TLS");
    assert.match(x.error.message, /not signed by any trusted root|not issued by/);
  }
});
