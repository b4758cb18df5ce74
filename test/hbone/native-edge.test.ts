/**
 * The two HTTP/2 edge behaviours only the native engine (native/hbone_server.c) can give, with
 * hand-written frames over real mTLS (h2-raw.ts): a stream opened past the advertised
 * SETTINGS_MAX_CONCURRENT_STREAMS is refused alone with RST_STREAM(REFUSED_STREAM) while the
 * connection and its other tunnels keep going (RFC 9113 §5.1.2), and a DATA frame on stream 0
 * is answered GOAWAY(PROTOCOL_ERROR) and the connection closed at once (§6.1), not left to
 * keepalive. Node's http2 cannot do either (docs/hbone.md "Hostile peers"), so on the node
 * engine these tests are skipped with that reason.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { CODE, FRAME, RawH2, connectHeaders, data, errorCode, rstStream, staticStatus } from "./h2-raw.js";
import { TEST_ENGINE, echo, eventually, startServer, startTcp, testPki, type ServerFixture } from "./fixture.js";

const skip =
  TEST_ENGINE === "native"
    ? false
    : "node engine: Node's http2 ends the connection / gives no signal (WEFT_HBONE_ENGINE=native runs these)";

let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let f: ServerFixture;
let up: Awaited<ReturnType<typeof startTcp>>;
const LIMIT = 3;

before(async () => {
  if (skip) return;
  const pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  f = await startServer({ cert: serverCert, ip: "127.0.20.31", settings: { serverMaxConcurrentStreams: LIMIT } });
  up = await startTcp(echo);
});

after(async () => {
  if (skip) return;
  await f.server.close(200);
  await up.close();
});

const target = () => `${up.address.ip}:${up.address.port}`;

async function open(r: RawH2, stream: number): Promise<void> {
  r.send(connectHeaders(stream, target()));
  const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === stream);
  assert.ok(h, `no answer on stream ${stream}`);
  assert.equal(staticStatus(h), 200);
}

/** Sends `text` on `stream` and waits for the echo to come back as DATA on it. */
async function echoes(r: RawH2, stream: number, text: string): Promise<boolean> {
  const seen = () =>
    Buffer.concat(r.frames.filter((x) => x.type === FRAME.DATA && x.stream === stream).map((x) => x.payload))
      .toString()
      .includes(text);
  r.send(data(stream, Buffer.from(text)));
  return eventually(seen, 3_000);
}

describe("hbone native edge", { skip }, () => {
  test("SETTINGS advertises our MAX_CONCURRENT_STREAMS", async () => {
    const r = await RawH2.connect(f.address, clientCert, [serverCert.identity]);
    try {
      const s = r.frames.find((x) => x.type === FRAME.SETTINGS && x.flags === 0)!;
      const entries = new Map<number, number>();
      for (let i = 0; i + 6 <= s.payload.length; i += 6) entries.set(s.payload.readUInt16BE(i), s.payload.readUInt32BE(i + 2));
      assert.equal(entries.get(0x3), LIMIT, "SETTINGS_MAX_CONCURRENT_STREAMS");
      assert.equal(entries.get(0x4), 4 * 1024 * 1024, "SETTINGS_INITIAL_WINDOW_SIZE");
      assert.equal(entries.get(0x2), 0, "SETTINGS_ENABLE_PUSH");
    } finally {
      r.destroy();
    }
  });

  test("a stream past MAX_CONCURRENT_STREAMS is refused alone (REFUSED_STREAM); the others keep tunnelling", async () => {
    const r = await RawH2.connect(f.address, clientCert, [serverCert.identity]);
    try {
      for (let i = 0; i < LIMIT; i++) await open(r, 1 + 2 * i);
      const over = 1 + 2 * LIMIT;
      r.send(connectHeaders(over, target()));
      const rst = await r.waitFor((x) => x.type === FRAME.RST_STREAM && x.stream === over);
      assert.ok(rst, "RST_STREAM on the stream past the limit");
      assert.equal(errorCode(rst), CODE.REFUSED_STREAM);
      assert.equal(r.headersOn(over).length, 0, "no answer on the refused stream");
      assert.equal(r.goaway(), undefined, "no GOAWAY: the connection stays");
      for (let i = 0; i < LIMIT; i++) assert.ok(await echoes(r, 1 + 2 * i, `still here ${i}`), `stream ${1 + 2 * i} still tunnels`);
      assert.ok(f.server.stats().streamsRefusedOverLimit >= 1);
      // A slot freed by the client is usable again.
      r.send(rstStream(1, CODE.CANCEL));
      assert.ok(await eventually(() => f.server.stats().streams === LIMIT - 1));
      await open(r, over + 2);
      assert.ok(await echoes(r, over + 2, "after the refusal"));
    } finally {
      r.destroy();
    }
    assert.ok(await eventually(() => f.server.stats().streams === 0 && up.sockets.size === 0), "streams or upstreams leaked");
  });

  test("DATA on stream 0: GOAWAY(PROTOCOL_ERROR) and the connection closed at once", async () => {
    const r = await RawH2.connect(f.address, clientCert, [serverCert.identity]);
    const bystander = await RawH2.connect(f.address, clientCert, [serverCert.identity]);
    try {
      await open(r, 1);
      const started = Date.now();
      r.send(data(0, Buffer.from("not on a stream")));
      const g = await r.waitFor((x) => x.type === FRAME.GOAWAY);
      assert.ok(g, "GOAWAY expected");
      assert.equal(errorCode(g), CODE.PROTOCOL_ERROR);
      assert.ok(await r.waitClosed(3_000), "the connection should be closed after its GOAWAY");
      assert.ok(Date.now() - started < 2_500, "closed by the server, not by keepalive");
      await open(bystander, 1);
      assert.ok(await echoes(bystander, 1, "unaffected"));
    } finally {
      r.destroy();
      bystander.destroy();
    }
    assert.ok(await eventually(() => f.server.stats().streams === 0 && up.sockets.size === 0), "streams or upstreams leaked");
  });
});
