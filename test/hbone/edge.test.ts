/**
 * The HBONE server's HTTP/2 edge against hostile clients (issue 14), with hand-written frames
 * (h2-raw.ts) over real mTLS: RFC 9113's answers (an unsolicited PING ACK ignored, the right
 * error codes for flow-control and protocol errors, a flow-control violation on one stream
 * resetting only that stream), rapid reset bounded (few upstream dials, then
 * GOAWAY(ENHANCE_YOUR_CALM) and the connection closed), a per-connection dial budget
 * (REFUSED_STREAM past it), and CONNECTs to the proxy's own listener ports refused (400).
 * Every test checks the server keeps serving and leaks no stream or upstream socket.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { CODE, FRAME, RawH2, connectHeaders, data, errorCode, ping, rstStream, settings, staticStatus, windowUpdate } from "./h2-raw.js";
import { connectToTarget, echo, eventually, startServer, startTcp, testPki, type ServerFixture } from "./fixture.js";
import { PlainDialer } from "../../src/proxy/transport/dialer.js";

let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let f: ServerFixture;
let up: Awaited<ReturnType<typeof startTcp>>;
let upConnects = 0;
const ILLEGAL = 15001;

before(async () => {
  const pki = await testPki();
  serverCert = await pki.certFor("default", "server");
  clientCert = await pki.certFor("default", "client");
  f = await startServer({
    cert: serverCert,
    ip: "127.0.20.30",
    settings: { protocolProbeTimeoutMs: 300, earlyResetBurst: 20, earlyResetsPerSecond: 1 },
    illegalPorts: [ILLEGAL],
  });
  up = await startTcp((s) => {
    upConnects++;
    echo(s);
  });
});

afterEach(async () => {
  assert.ok(await eventually(() => f.server.stats().streams === 0), `server streams leaked: ${JSON.stringify(f.server.stats())}`);
  assert.ok(await eventually(() => up.sockets.size === 0), "upstream sockets leaked");
});

after(async () => {
  await f.server.close(200);
  await up.close();
});

const connect = () => RawH2.connect(f.address, clientCert, [serverCert.identity]);
const upstream = () => `${up.address.ip}:${up.address.port}`;

/** A CONNECT on `stream` answered 200 (the connection still serves). */
async function assertServes(r: RawH2, stream: number): Promise<void> {
  r.send(connectHeaders(stream, upstream(), true));
  const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === stream);
  assert.ok(h, `no answer on stream ${stream}; frames ${JSON.stringify(r.frames.map((x) => [x.type, x.stream]))}`);
  assert.equal(staticStatus(h), 200);
}

describe("hbone edge: RFC 9113 answers", () => {
  test("an unsolicited PING ACK is ignored (§6.7), the connection keeps serving", async () => {
    const r = await connect();
    try {
      r.send(ping(true, Buffer.from("unasked!")));
      await assertServes(r, 1);
      assert.equal(r.goaway(), undefined, "no GOAWAY");
      assert.equal(r.closed, false);
    } finally {
      r.destroy();
    }
  });

  test("a WINDOW_UPDATE overflowing the connection window: GOAWAY(FLOW_CONTROL_ERROR), then closed (§6.9.1)", async () => {
    const r = await connect();
    try {
      r.send(windowUpdate(0, 2 ** 31 - 1));
      const g = await r.waitFor((x) => x.type === FRAME.GOAWAY);
      assert.ok(g, "GOAWAY expected");
      assert.equal(errorCode(g), CODE.FLOW_CONTROL_ERROR);
      assert.ok(await r.waitClosed(3_000), "connection should be closed after the GOAWAY");
    } finally {
      r.destroy();
    }
  });

  test("an unsolicited SETTINGS ACK is a connection error PROTOCOL_ERROR, not INTERNAL_ERROR", async () => {
    const r = await connect();
    try {
      r.send(settings([], true));
      const g = await r.waitFor((x) => x.type === FRAME.GOAWAY);
      assert.ok(g, "GOAWAY expected");
      assert.equal(errorCode(g), CODE.PROTOCOL_ERROR);
      assert.ok(await r.waitClosed(3_000), "connection should be closed after the GOAWAY");
    } finally {
      r.destroy();
    }
  });

  // nghttp2 answers DATA past a stream's window itself, before Node or weft sees the frame.
  // Up to 1.66 (Node 20) it reset that stream; from 1.67 (Node 24 has 1.70; upstream commit
  // "Make error handling robust", 7784fa97) it ends the connection. RFC 9113 §6.9 allows either
  // ("a stream error or connection error of type FLOW_CONTROL_ERROR"); answering with a stream
  // error again would need our own frame reader in front of nghttp2 (docs/hbone.md "Hostile
  // peers"). The code must be FLOW_CONTROL_ERROR either way, and only the offending connection
  // may end.
  const streamLevelFlowControl = nghttp2Below(1, 67);
  test(`DATA past one stream's window: FLOW_CONTROL_ERROR, ${streamLevelFlowControl ? "that stream reset, the connection keeps serving" : "that connection ended (nghttp2 >= 1.67), others keep serving"}`, async () => {
    const stalled = await startTcp((s) => s.pause());
    const r = await connect();
    const bystander = await connect();
    try {
      r.send(connectHeaders(1, `${stalled.address.ip}:${stalled.address.port}`));
      const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === 1);
      assert.equal(h && staticStatus(h), 200);
      // Far past the 4 MiB stream window and what the stalled upstream's kernel buffers absorb
      // (the server returns window only for what it passed on); stop once the server answers.
      for (let i = 0; i < 4096 && !r.rstOf(1) && !r.goaway(); i++) {
        r.send(data(1, 16384));
        if (i % 64 === 63) await new Promise((res) => setTimeout(res, 1));
      }
      const answer = await r.waitFor((x) => (x.type === FRAME.RST_STREAM && x.stream === 1) || x.type === FRAME.GOAWAY, 5_000);
      assert.ok(answer, "RST_STREAM or GOAWAY expected");
      assert.equal(errorCode(answer), CODE.FLOW_CONTROL_ERROR);
      if (streamLevelFlowControl) {
        assert.equal(answer.type, FRAME.RST_STREAM, `stream error expected on nghttp2 ${process.versions.nghttp2}`);
        assert.equal(r.goaway(), undefined, "a stream error must not end the connection");
        await assertServes(r, 3);
      } else {
        assert.equal(answer.type, FRAME.GOAWAY, `connection error expected on nghttp2 ${process.versions.nghttp2}`);
        assert.equal(answer.payload.readUInt32BE(0) & 0x7fffffff, 1, "GOAWAY's last stream id is the offending stream");
        assert.ok(await r.waitClosed(3_000), "the offending connection should be closed after its GOAWAY");
      }
      await assertServes(bystander, 1);
      assert.equal(bystander.goaway(), undefined, "another connection is not affected");
    } finally {
      r.destroy();
      bystander.destroy();
      await stalled.close();
    }
  });
});

/** True when the nghttp2 inside this Node is older than major.minor. */
function nghttp2Below(major: number, minor: number): boolean {
  const [a = 0, b = 0] = (process.versions.nghttp2 ?? "").split(".").map(Number);
  return a < major || (a === major && b < minor);
}

describe("hbone edge: rapid reset and dial budgets", () => {
  test("streams reset before their answer, spread over time: few dials, then GOAWAY(ENHANCE_YOUR_CALM) and the connection closed", async () => {
    const r = await connect();
    const before = upConnects;
    try {
      let stream = 1;
      // 10 pairs per write, 300 in all: below nghttp2's own reset limit (1000), so the server's
      // budget (20 at once, then 1/s) is what decides.
      for (let batch = 0; batch < 30 && !r.closed; batch++) {
        const frames: Buffer[] = [];
        for (let i = 0; i < 10; i++, stream += 2) frames.push(connectHeaders(stream, upstream()), rstStream(stream, CODE.CANCEL));
        r.send(...frames);
        await new Promise((res) => setTimeout(res, 3));
      }
      const g = await r.waitFor((x) => x.type === FRAME.GOAWAY);
      assert.ok(g, "GOAWAY expected");
      assert.equal(errorCode(g), CODE.ENHANCE_YOUR_CALM);
      assert.ok(await r.waitClosed(3_000), "the abusive connection should be closed");
      await new Promise((res) => setTimeout(res, 100));
      const dials = upConnects - before;
      assert.ok(dials <= 25, `${dials} upstream dials for ${(stream - 1) / 2} streams reset before their answer`);
    } finally {
      r.destroy();
    }
  });

  test("a burst of 2000 streams reset in the same reads costs no upstream dial and closes the connection", async () => {
    const r = await connect();
    const before = upConnects;
    try {
      const frames: Buffer[] = [];
      for (let i = 0, stream = 1; i < 2000; i++, stream += 2)
        frames.push(connectHeaders(stream, upstream()), rstStream(stream, CODE.CANCEL));
      r.send(...frames);
      assert.ok(await r.waitFor((x) => x.type === FRAME.GOAWAY), "GOAWAY expected");
      assert.ok(await r.waitClosed(3_000), "the abusive connection should be closed");
      await new Promise((res) => setTimeout(res, 100));
      const dials = upConnects - before;
      assert.ok(dials <= 5, `${dials} upstream dials for 2000 reset streams`);
    } finally {
      r.destroy();
    }
  });

  test("a stream reset while its upstream dial is pending leaves no upstream connection (the dial is abandoned)", async () => {
    const dialer = new PlainDialer({ bindSource: false, timeoutMs: 5_000 });
    let dialled: Promise<unknown> | undefined;
    f.setHandler(async (req) => {
      await new Promise((res) => setTimeout(res, 100)); // e.g. waiting on policy or a slow SYN
      const p = dialer.dial({ target: req.target, signal: req.signal });
      dialled = p;
      const up = await p;
      return up.ok ? { kind: "tunnel", upstream: up.value } : { kind: "reject", status: 503, reason: up.error.message };
    });
    const r = await connect();
    const before = upConnects;
    try {
      r.send(connectHeaders(1, upstream()));
      await eventually(() => f.server.stats().streams === 1);
      await new Promise((res) => setTimeout(res, 50));
      r.send(rstStream(1, CODE.CANCEL));
      await eventually(() => dialled !== undefined, 1_000);
      await dialled;
      await new Promise((res) => setTimeout(res, 100));
      assert.equal(upConnects - before, 0, "no upstream connection for a stream reset before its dial");
    } finally {
      f.setHandler(connectToTarget);
      r.destroy();
    }
  });

  test("past the connection's dial budget a stream is refused alone with REFUSED_STREAM", async () => {
    const g = await startServer({ cert: serverCert, ip: "127.0.20.31", settings: { connectBurst: 3, connectsPerSecond: 1 } });
    const r = await RawH2.connect(g.address, clientCert, [serverCert.identity]);
    try {
      for (let i = 0; i < 5; i++) r.send(connectHeaders(1 + 2 * i, upstream()));
      for (const s of [1, 3, 5]) {
        const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === s);
        assert.equal(h && staticStatus(h), 200, `stream ${s} should be served`);
      }
      for (const s of [7, 9]) {
        const rst = await r.waitFor((x) => x.type === FRAME.RST_STREAM && x.stream === s);
        assert.ok(rst, `stream ${s} should be refused`);
        assert.equal(errorCode(rst), CODE.REFUSED_STREAM);
      }
      assert.equal(g.calls.length, 3, "refused streams never reach the handler");
      assert.equal(r.goaway(), undefined);
      for (const s of [1, 3, 5]) r.send(rstStream(s, CODE.CANCEL));
    } finally {
      r.destroy();
      await g.server.close(100);
    }
  });
});

describe("hbone edge: no tunnels into the proxy itself", () => {
  const cases: { name: string; authority: () => string }[] = [
    { name: "the server's own HBONE address", authority: () => `${f.address.ip}:${f.address.port}` },
    { name: "another IP on the HBONE port", authority: () => `${up.address.ip}:${f.address.port}` },
    { name: "a configured proxy listener port", authority: () => `${up.address.ip}:${ILLEGAL}` },
  ];
  for (const c of cases) {
    test(`a CONNECT to ${c.name} is answered 400 without calling the handler`, async () => {
      const r = await connect();
      const calls = f.calls.length;
      try {
        r.send(connectHeaders(1, c.authority()));
        const h = await r.waitFor((x) => x.type === FRAME.HEADERS && x.stream === 1);
        assert.equal(h && staticStatus(h), 400);
        assert.equal(f.calls.length, calls, "handler must not be called");
        await assertServes(r, 3);
      } finally {
        r.destroy();
      }
    });
  }
});
