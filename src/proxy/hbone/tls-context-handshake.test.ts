/**
 * The HBONE TLS options (secureContextFor, clientTlsOptions, serverTlsOptions) in real TLS
 * handshakes between Node's TLS stacks, over an in-memory stream pair instead of sockets: no
 * port, no lock, nothing shared. Certificates come from the real CA code (test/support/pki.ts).
 *
 * Each test names the property of the options it pins: TLS 1.3 only, the AES-GCM suites only,
 * ALPN h2, no SNI, no session tickets, a client certificate required, the server's identity
 * checked against the expected set, the chain checked against the mesh roots, one context per
 * certificate object (a rotated certificate is used by the next connection).
 */
import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { identity, type Identity } from "../../common/spiffe.js";
import type { WorkloadCertificate } from "../../common/tls/types.js";
import { makeTestPki, type TestPki } from "../../../test/support/pki.js";
import { HBONE_CIPHERS, clientTlsOptions, secureContextFor, serverTlsOptions } from "./tls-context.js";

/** Two in-memory streams connected to each other, as the two ends of a TCP connection are. */
function streamPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const end = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        other().push(chunk);
        cb();
      },
      final(cb) {
        other().push(null);
        cb();
      },
      // One end torn down resets the other, as a closed TCP connection does.
      destroy(error, cb) {
        other().destroy();
        cb(error);
      },
    });
  ends.push(
    end(() => ends[1]!),
    end(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}

interface Outcome {
  /** The server finished its handshake (it then sends "ok"). */
  readonly serverSecure: boolean;
  /** The client received the server's "ok": both sides accepted the connection. */
  readonly clientGotData: boolean;
  readonly clientError?: Error;
  readonly serverError?: Error;
  readonly client: SideInfo;
  readonly server: SideInfo;
  /** Sessions (TLS 1.3 tickets) the client received after the handshake. */
  readonly sessions: readonly Buffer[];
}

/** What one end negotiated, read before the streams are torn down. */
interface SideInfo {
  readonly protocol: string | null;
  readonly alpn: string | false | null;
  readonly cipher: string;
  /** The SNI the server received (false: none). */
  readonly servername: string | false | undefined;
  readonly peer?: X509Certificate;
  readonly resumed: boolean;
}

function info(t: tls.TLSSocket): SideInfo {
  const peer = t.getPeerX509Certificate();
  return {
    protocol: t.getProtocol(),
    alpn: t.alpnProtocol,
    cipher: t.getCipher()?.standardName ?? "",
    servername: (t as unknown as { servername?: string | false }).servername,
    ...(peer ? { peer } : {}),
    resumed: t.isSessionReused(),
  };
}

/** One handshake: `client` options for tls.connect, `server` options for a server TLSSocket. */
async function handshake(client: tls.ConnectionOptions, server: tls.TLSSocketOptions): Promise<Outcome> {
  const [c, s] = streamPair();
  const srv = new tls.TLSSocket(s, server);
  const cli = tls.connect({ socket: c, ...client });
  const sessions: Buffer[] = [];
  cli.on("session", (b: Buffer) => sessions.push(b));
  const serverDone = new Promise<{ secure: boolean; error?: Error }>((resolve) => {
    srv.once("secure", () => {
      srv.write("ok");
      resolve({ secure: true });
    });
    srv.once("error", (error) => resolve({ secure: false, error }));
    srv.once("close", () => resolve({ secure: false }));
  });
  const clientDone = new Promise<{ data: boolean; error?: Error }>((resolve) => {
    cli.once("data", (d: Buffer) => resolve({ data: d.toString() === "ok" }));
    cli.once("error", (error) => resolve({ data: false, error }));
    cli.once("close", () => resolve({ data: false }));
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("handshake did not settle in 5 s")), 5000).unref());
  const [sv, cl] = await Promise.race([Promise.all([serverDone, clientDone]), timeout]);
  // Tickets come right after the server's Finished, before its "ok": they have been read.
  const out: Outcome = {
    serverSecure: sv.secure,
    clientGotData: cl.data,
    ...(cl.error ? { clientError: cl.error } : {}),
    ...(sv.error ? { serverError: sv.error } : {}),
    client: info(cli),
    server: info(srv),
    sessions,
  };
  cli.destroy();
  srv.destroy();
  return out;
}

/** Plain tls.connect options presenting `cert` (for clients that are not weft's). */
const foreignClient = (cert: WorkloadCertificate, extra: tls.ConnectionOptions = {}): tls.ConnectionOptions => ({
  key: cert.keyPem,
  cert: cert.chainPem.join("\n"),
  ca: [...cert.rootsPem],
  servername: "",
  checkServerIdentity: () => undefined,
  ...extra,
});

describe("HBONE TLS options in a handshake", () => {
  let pki: TestPki;
  let serverCert: WorkloadCertificate;
  let clientCert: WorkloadCertificate;
  let strangerCert: WorkloadCertificate;
  const serverId = identity("cluster.local", "default", "server");
  const clientId = identity("cluster.local", "default", "client");
  before(async () => {
    pki = await makeTestPki();
    [serverCert, clientCert, strangerCert] = await Promise.all([
      pki.certForIdentity(serverId),
      pki.certForIdentity(clientId),
      pki.impostor.certFor("default", "server"),
    ]);
  });

  test("weft client and server agree on TLS 1.3, an AES-GCM suite and h2, with no SNI and no resumption", async () => {
    const accepted: Identity[] = [];
    const o = await handshake(
      clientTlsOptions(clientCert, { expected: [serverId] }, (id) => accepted.push(id)),
      serverTlsOptions(serverCert),
    );
    assert.ok(o.serverSecure && o.clientGotData, `${o.clientError?.message ?? ""} ${o.serverError?.message ?? ""}`);
    assert.deepEqual(accepted, [serverId], "onAccepted receives the server's identity");
    for (const side of [o.client, o.server]) {
      assert.equal(side.protocol, "TLSv1.3");
      assert.equal(side.alpn, "h2");
      assert.ok(HBONE_CIPHERS.split(":").includes(side.cipher), side.cipher);
      assert.equal(side.resumed, false);
    }
    assert.equal(o.server.servername, false, "the client sent no SNI");
    assert.match(o.server.peer?.subjectAltName ?? "", /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/client/);
  });

  // OpenSSL's TLS 1.3 server still sends tickets with SSL_OP_NO_TICKET, stateful ones naming a
  // session in the server's cache; Node keeps no cache unless 'newSession' is handled, so they
  // resume nothing. A resumed session would skip the client certificate (and the server's chain
  // check of it), so a client offering a ticket must get a full handshake.
  test("the server resumes no session, even for a client offering the ticket it was just given", async () => {
    const first = await handshake(foreignClient(clientCert), serverTlsOptions(serverCert));
    assert.ok(first.clientGotData && first.sessions.length > 0, "no ticket to offer: the test proves nothing");
    for (const session of first.sessions) {
      const again = await handshake(foreignClient(clientCert, { session }), serverTlsOptions(serverCert));
      assert.ok(again.clientGotData, again.serverError?.message);
      assert.deepEqual([again.client.resumed, again.server.resumed], [false, false]);
      assert.ok(again.server.peer, "a full handshake: the client certificate was presented again");
    }
  });

  test("positive control: a context that issues stateless tickets lets that client resume", async () => {
    const ticketing = tls.createSecureContext({
      key: serverCert.keyPem,
      cert: serverCert.chainPem.join("\n"),
      ca: [...serverCert.rootsPem],
      minVersion: "TLSv1.3",
      sessionIdContext: "control",
    });
    const server: tls.TLSSocketOptions = { ...serverTlsOptions(serverCert), secureContext: ticketing };
    const first = await handshake(foreignClient(clientCert), server);
    const again = await handshake(foreignClient(clientCert, { session: first.sessions.at(-1)! }), server);
    assert.deepEqual([again.client.resumed, again.server.resumed], [true, true]);
  });

  test("the server requires a client certificate: a client without one is refused in the handshake", async () => {
    const o = await handshake(
      { ca: [...pki.rootsPem], servername: "", checkServerIdentity: () => undefined },
      serverTlsOptions(serverCert),
    );
    assert.equal(o.serverSecure, false, "the server finished a handshake without a client certificate");
    assert.equal(o.clientGotData, false);
    assert.match(o.serverError?.message ?? "", /peer did not return a certificate|certificate required/i);
  });

  test("the server refuses a TLS 1.2 client, and a client offering only ChaCha20", async () => {
    for (const [what, extra] of [
      ["TLS 1.2", { maxVersion: "TLSv1.2" }],
      ["ChaCha20-Poly1305 only", { ciphers: "TLS_CHACHA20_POLY1305_SHA256" }],
    ] as const) {
      const o = await handshake(foreignClient(clientCert, extra), serverTlsOptions(serverCert));
      assert.equal(o.serverSecure, false, what);
      assert.match(o.serverError?.message ?? "", /unsupported protocol|no shared cipher|version/i, what);
    }
  });

  test("positive control: the same foreign client with default versions and suites is accepted", async () => {
    const o = await handshake(foreignClient(clientCert), serverTlsOptions(serverCert));
    assert.ok(o.serverSecure && o.clientGotData, `${o.clientError?.message ?? ""} ${o.serverError?.message ?? ""}`);
  });

  test("the weft client refuses a TLS 1.2 server", async () => {
    const tls12: tls.TLSSocketOptions = {
      isServer: true,
      secureContext: tls.createSecureContext({ key: serverCert.keyPem, cert: serverCert.chainPem.join("\n"), maxVersion: "TLSv1.2" }),
    };
    const o = await handshake(clientTlsOptions(clientCert, { expected: [serverId] }), tls12);
    assert.equal(o.clientGotData, false);
    assert.match(o.clientError?.message ?? "", /unsupported protocol|version/i);
  });

  test("the client refuses a server whose identity is not expected, naming it and the expected set", async () => {
    const accepted: Identity[] = [];
    const other = identity("cluster.local", "default", "other");
    const o = await handshake(
      clientTlsOptions(clientCert, { expected: [other] }, (id) => accepted.push(id)),
      serverTlsOptions(serverCert),
    );
    assert.equal(o.clientGotData, false);
    assert.deepEqual(accepted, []);
    assert.equal((o.clientError as { code?: string } | undefined)?.code, "HBONE_IDENTITY");
    assert.match(
      o.clientError?.message ?? "",
      /server identity spiffe:\/\/cluster\.local\/ns\/default\/sa\/server is not among the expected identities spiffe:\/\/cluster\.local\/ns\/default\/sa\/other/,
    );
  });

  test("the client refuses a server with the expected name under another root (chain checked against the mesh roots)", async () => {
    const accepted: Identity[] = [];
    const o = await handshake(
      clientTlsOptions(clientCert, { expected: [serverId] }, (id) => accepted.push(id)),
      serverTlsOptions(strangerCert),
    );
    assert.equal(o.clientGotData, false);
    assert.deepEqual(accepted, [], "the identity check is not reached for an untrusted chain");
    assert.match(o.clientError?.message ?? "", /self[- ]signed|unable to (get|verify)/i);
  });

  test("one secure context per certificate object; a rotated certificate is presented by the next connection", async () => {
    assert.equal(secureContextFor(serverCert), secureContextFor(serverCert));
    const rotated = await pki.certForIdentity(serverId);
    assert.notEqual(secureContextFor(rotated), secureContextFor(serverCert));
    const serialOf = async (cert: WorkloadCertificate) => {
      const o = await handshake(clientTlsOptions(clientCert, { expected: [serverId] }), serverTlsOptions(cert));
      assert.ok(o.clientGotData, o.clientError?.message);
      return o.client.peer?.serialNumber;
    };
    const serial = (cert: WorkloadCertificate) => new X509Certificate(cert.chainPem[0]!).serialNumber;
    assert.equal(await serialOf(serverCert), serial(serverCert));
    assert.equal(await serialOf(rotated), serial(rotated));
  });
});
