/**
 * HBONE peer authentication and robustness: the client only accepts a server whose SPIFFE
 * identity is expected; the server only accepts clients chaining to its roots, inside their
 * validity window, from an accepted trust domain; it serves nothing on addresses it has no
 * certificate for; non-CONNECT and bad authorities get 400; garbage before or after TLS costs
 * only that connection, and afterwards no connection or stream is left open.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import type http2 from "node:http2";
import { identity } from "../../src/common/spiffe.js";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { dialHbone, openTunnel } from "../../src/proxy/hbone/client.js";
import { DEFAULT_HBONE_SETTINGS } from "../../src/proxy/hbone/settings.js";
import { clientTlsOptions } from "../../src/proxy/hbone/tls-context.js";
import { isMutualTls, sessionSecurity } from "../../src/proxy/hbone/connection-security.js";
import type { HboneError } from "../../src/proxy/hbone/errors.js";
import { echo, eventually, readAll, startServer, startTcp, testPki, type ServerFixture } from "./fixture.js";
import type { TestPki } from "../support/pki.js";

let pki: TestPki;
let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let f: ServerFixture;
let echoUp: Awaited<ReturnType<typeof startTcp>>;

before(async () => {
  pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  f = await startServer({ cert: serverCert });
  echoUp = await startTcp(echo);
});

afterEach(async () => {
  assert.ok(
    await eventually(() => f.server.stats().connections === 0 && f.server.stats().streams === 0),
    `server leaked: ${JSON.stringify(f.server.stats())}`,
  );
});

after(async () => {
  await f.server.close(200);
  await echoUp.close();
});

/** Dials and opens one tunnel; any failure along the way is returned as the HboneError. */
async function tryTunnel(
  source: WorkloadCertificate,
  expected = [serverCert.identity],
  port = f.address.port,
  ip = f.address.ip,
): Promise<{ ok: true } | { ok: false; error: HboneError }> {
  const d = await dialHbone({ destination: { ip, port }, source, expected, settings: DEFAULT_HBONE_SETTINGS });
  if (!d.ok) return d;
  try {
    const t = await openTunnel(d.value.session, { target: echoUp.address });
    if (!t.ok) return t;
    t.value.end("x");
    await readAll(t.value);
    return { ok: true };
  } finally {
    d.value.session.destroy();
  }
}

async function assertWorks(): Promise<void> {
  const r = await tryTunnel(clientCert);
  assert.ok(r.ok, r.ok ? "" : `server should still serve: ${r.error.message}`);
}

describe("hbone peer authentication", () => {
  test("a mesh client reaches the upstream (baseline)", assertWorks);

  test("both ends use TLS 1.3, ALPN h2 and the HBONE HTTP/2 settings", async () => {
    const d = await dialHbone({
      destination: f.address,
      source: clientCert,
      expected: [serverCert.identity],
      settings: DEFAULT_HBONE_SETTINGS,
    });
    assert.ok(d.ok);
    const session = d.value.session;
    try {
      await new Promise<void>((r) =>
        session.remoteSettings.maxConcurrentStreams === 200 ? r() : session.once("remoteSettings", () => r()),
      );
      const sock = session.socket as unknown as tls.TLSSocket;
      assert.equal(sock.getProtocol(), "TLSv1.3");
      assert.equal(sock.alpnProtocol, "h2");
      assert.match(sock.getCipher().name, /^TLS_AES_(128|256)_GCM_SHA(256|384)$/);
      assert.equal(sock.isSessionReused(), false);
      assert.equal(session.remoteSettings.maxConcurrentStreams, 200);
      assert.equal(session.remoteSettings.initialWindowSize, 4 * 1024 * 1024);
      assert.equal(session.remoteSettings.maxFrameSize, 1024 * 1024);
      assert.equal(session.remoteSettings.enablePush, false);
      assert.equal(session.state.effectiveLocalWindowSize, 16 * 1024 * 1024);
      assert.deepEqual(d.value.peerIdentity, serverCert.identity);
    } finally {
      session.destroy();
    }
  });

  test("both ends record the connection's real TLS state: protocol from the socket, the peer identity they verified", async () => {
    const before = f.calls.length;
    const d = await dialHbone({
      destination: f.address,
      source: clientCert,
      expected: [serverCert.identity],
      settings: DEFAULT_HBONE_SETTINGS,
    });
    assert.ok(d.ok);
    try {
      assert.deepEqual(d.value.security, { protocol: "TLSv1.3", peerIdentity: serverCert.identity });
      assert.equal(sessionSecurity(d.value.session), d.value.security, "the session carries the record for the tunnel's users");
      assert.ok(isMutualTls(d.value.security));
      const t = await openTunnel(d.value.session, { target: echoUp.address });
      assert.ok(t.ok);
      t.value.end("x");
      await readAll(t.value);
      const req = f.calls[before];
      assert.ok(req);
      assert.deepEqual(req.security, { protocol: "TLSv1.3", peerIdentity: clientCert.identity });
      assert.deepEqual(req.peerIdentity, clientCert.identity, "the source principal is the client certificate's");
    } finally {
      d.value.session.destroy();
    }
  });

  test("client refuses a server whose SPIFFE identity is not in the expected set", async () => {
    const r = await tryTunnel(clientCert, [identity("cluster.local", "default", "someone-else")]);
    assert.ok(!r.ok);
    assert.equal(r.error.code, "HBONE_IDENTITY");
    assert.match(r.error.message, /spiffe:\/\/cluster.local\/ns\/default\/sa\/server is not among the expected/);
  });

  test("client refuses a server chaining to another root, even with the expected identity", async () => {
    const forged = await pki.impostor.certFor("default", "server");
    const g = await startServer({ cert: forged, ip: "127.0.20.6" });
    try {
      const r = await tryTunnel(clientCert, [serverCert.identity], g.address.port, g.address.ip);
      assert.ok(!r.ok);
      assert.equal(r.error.code, "HBONE_TLS");
    } finally {
      await g.server.close(100);
    }
  });

  const refusedClients: { name: string; cert: () => Promise<WorkloadCertificate> }[] = [
    { name: "a client certificate from another trust domain and root", cert: () => pki.other.certFor("default", "client") },
    { name: "a client certificate from another root with our trust domain", cert: () => pki.impostor.certFor("default", "client") },
    { name: "an expired client certificate", cert: () => pki.expiredCertFor("default", "client") },
    { name: "a not-yet-valid client certificate", cert: () => pki.notYetValidCertFor("default", "client") },
  ];
  for (const c of refusedClients) {
    test(`server refuses ${c.name} without calling the handler`, async () => {
      const before = f.server.stats().connectionsRejected;
      const calls = f.calls.length;
      const r = await tryTunnel(await c.cert());
      assert.ok(!r.ok, "tunnel should fail");
      assert.equal(f.calls.length, calls, "handler must not be called");
      assert.ok(await eventually(() => f.server.stats().connectionsRejected === before + 1));
      await assertWorks();
    });
  }

  test("server refuses a trust domain it was not configured to accept", async () => {
    const g = await startServer({ cert: serverCert, ip: "127.0.20.7", trustDomains: ["mesh.example"] });
    try {
      const r = await tryTunnel(clientCert, [serverCert.identity], g.address.port, g.address.ip);
      assert.ok(!r.ok);
      assert.equal(g.server.stats().connectionsRejected, 1);
      assert.equal(g.calls.length, 0);
    } finally {
      await g.server.close(100);
    }
  });

  test("server closes connections to a local address it has no certificate for", async () => {
    const port = (await f.server.listen("127.0.20.8", 0)).port;
    const before = f.server.stats().connectionsRejected;
    const r = await tryTunnel(clientCert, [serverCert.identity], port, "127.0.20.8");
    assert.ok(!r.ok);
    assert.equal(r.error.code, "HBONE_TLS");
    assert.equal(f.server.stats().connectionsRejected, before + 1);
  });

  test("the certificate is chosen per connection: a rotated certificate is used without a restart", async () => {
    let current = serverCert;
    const g = await startServer({ cert: serverCert, ip: "127.0.20.9", certificateFor: () => current });
    const rotated = await pki.certFor("default", "server");
    const seen: string[] = [];
    const probe = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const s = tls.connect(
          { host: g.address.ip, port: g.address.port, ...clientTlsOptions(clientCert, { expected: [serverCert.identity] }) },
          () => {
            seen.push(s.getPeerX509Certificate()!.serialNumber);
            s.destroy();
            resolve();
          },
        );
        s.once("error", reject);
      });
    try {
      await probe();
      current = rotated;
      await probe();
      assert.notEqual(seen[0], seen[1], "second connection should present the rotated certificate");
    } finally {
      await g.server.close(100);
    }
  });
});

describe("hbone malformed requests and garbage", () => {
  async function rawSession(): Promise<http2.ClientHttp2Session> {
    const d = await dialHbone({
      destination: f.address,
      source: clientCert,
      expected: [serverCert.identity],
      settings: DEFAULT_HBONE_SETTINGS,
    });
    if (!d.ok) throw d.error;
    return d.value.session;
  }
  function status(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = session.request(headers, { endStream: false });
      s.once("response", (h) => resolve(Number(h[":status"])));
      s.once("error", reject);
      s.resume();
    });
  }

  const cases: { name: string; headers: http2.OutgoingHttpHeaders }[] = [
    { name: "GET", headers: { ":method": "GET", ":path": "/", ":scheme": "https", ":authority": "127.0.20.2:80" } },
    { name: "POST", headers: { ":method": "POST", ":path": "/x", ":scheme": "https", ":authority": "127.0.20.2:80" } },
    { name: "CONNECT to a hostname", headers: { ":method": "CONNECT", ":authority": "example.com:80" } },
    { name: "CONNECT without a port", headers: { ":method": "CONNECT", ":authority": "127.0.20.2" } },
    { name: "CONNECT to port 0", headers: { ":method": "CONNECT", ":authority": "127.0.20.2:0" } },
    { name: "CONNECT to unbracketed IPv6", headers: { ":method": "CONNECT", ":authority": "fd00::1:80" } },
  ];
  for (const c of cases) {
    test(`${c.name} is answered 400 without calling the handler`, async () => {
      const session = await rawSession();
      const calls = f.calls.length;
      try {
        assert.equal(await status(session, c.headers), 400);
        assert.equal(f.calls.length, calls);
      } finally {
        session.destroy();
      }
    });
  }

  test("garbage bytes on the TLS port close that connection; the server keeps serving", async () => {
    const s = net.connect({ host: f.address.ip, port: f.address.port });
    s.on("error", () => {});
    s.resume();
    s.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage"));
    await new Promise((r) => s.once("close", r));
    await assertWorks();
  });

  test("garbage on an established HTTP/2 session closes it; the server keeps serving", async () => {
    const s = tls.connect({
      host: f.address.ip,
      port: f.address.port,
      ...clientTlsOptions(clientCert, { expected: [serverCert.identity] }),
    });
    s.on("error", () => {});
    await new Promise((r) => s.once("secureConnect", r));
    s.resume(); // read the server's SETTINGS and GOAWAY, then its close
    s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    s.write(Buffer.alloc(64, 0xff));
    await new Promise((r) => s.once("close", r));
    await assertWorks();
  });

  test("a stalled TLS handshake is dropped after the handshake timeout", async () => {
    const g = await startServer({ cert: serverCert, ip: "127.0.20.10", settings: { handshakeTimeoutMs: 150 } });
    try {
      const s = net.connect({ host: g.address.ip, port: g.address.port });
      s.on("error", () => {});
      const t0 = Date.now();
      await new Promise((r) => s.once("close", r));
      assert.ok(Date.now() - t0 < 2_000);
      assert.equal(g.server.stats().connectionsRejected, 1);
    } finally {
      await g.server.close(100);
    }
  });
});
