/**
 * The native client's ClientHello offers what the Node engine's does where the wire would
 * otherwise differ: no RFC 8879 certificate compression (`compress_certificate`, extension 27).
 * OpenSSL >= 3.2 offers it by default and, between two native peers, compressed the client
 * certificate (handshake type 25 instead of 11); Node's TLS does not, so the e2e tests, reading the
 * client certificate off the wire, saw none. The hello is read by a TCP server standing in for the
 * peer, parsed here, and compared with the Node engine's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHbonePool } from "../../src/proxy/hbone/engine.js";
import { nativeHbone } from "../../src/proxy/hbone/native-addon.js";
import { testPki } from "./fixture.js";

/** Extension types of the first ClientHello a connection to a fresh listener sends (then it is closed). */
async function helloExtensions(engine: "node" | "native"): Promise<number[]> {
  const pki = await testPki();
  const clientCert = await pki.certFor("default", "client");
  const serverCert = await pki.certFor("default", "server");
  let resolveHello!: (b: Buffer) => void;
  const hello = new Promise<Buffer>((r) => (resolveHello = r));
  const srv = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
        resolveHello(buf.subarray(5, 5 + buf.readUInt16BE(3)));
        s.destroy();
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.20.54", r));
  const pool = createHbonePool({ pingIntervalMs: 0, connectTimeoutMs: 2000, handshakeTimeoutMs: 2000 }, engine);
  try {
    const port = (srv.address() as net.AddressInfo).port;
    const conn = pool.connect(
      { source: clientCert, expected: [serverCert.identity], destination: { ip: "127.0.20.54", port } },
      { target: { ip: "127.0.20.2", port: 80 }, forwardedFor: { ip: "127.0.20.5", port: 4000 }, host: "svc.ns.svc.cluster.local" },
    );
    const h = await hello;
    await conn; // refused: the stand-in closed after the hello
    return parseExtensions(h);
  } finally {
    await pool.close(100);
    srv.close();
  }
}

/** Extension types of a ClientHello handshake message (RFC 8446 4.1.2). */
function parseExtensions(h: Buffer): number[] {
  assert.equal(h[0], 1, "a ClientHello");
  let o = 4 + 2 + 32; // type, length, legacy_version, random
  o += 1 + h[o]!; // legacy_session_id
  o += 2 + h.readUInt16BE(o); // cipher_suites
  o += 1 + h[o]!; // legacy_compression_methods
  const end = o + 2 + h.readUInt16BE(o);
  o += 2;
  const types: number[] = [];
  while (o + 4 <= end) {
    types.push(h.readUInt16BE(o));
    o += 4 + h.readUInt16BE(o + 2);
  }
  return types;
}

const COMPRESS_CERTIFICATE = 27;

test("the native client offers no certificate compression, as the Node engine's client", async (t) => {
  if (!nativeHbone().ok) {
    t.skip("the native addon is not built (scripts/setup.sh)");
    return;
  }
  const nodeExt = await helloExtensions("node");
  const nativeExt = await helloExtensions("native");
  assert.ok(!nodeExt.includes(COMPRESS_CERTIFICATE), `Node's ClientHello: ${nodeExt.join(",")}`);
  assert.ok(!nativeExt.includes(COMPRESS_CERTIFICATE), `the native ClientHello offers compress_certificate: ${nativeExt.join(",")}`);
  // Both offer the TLS 1.3 essentials the peers rely on.
  for (const ext of [16 /* ALPN */, 43 /* supported_versions */, 51 /* key_share */]) {
    assert.ok(nativeExt.includes(ext) && nodeExt.includes(ext), `extension ${ext} in both: node ${nodeExt} native ${nativeExt}`);
  }
});
