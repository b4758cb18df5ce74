import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { splice } from "./splice.js";

/** A real TCP relay on loopback: client -> relay -> server, spliced in the middle. */
async function relay(serverHandler: (s: net.Socket) => void) {
  const server = net.createServer({ allowHalfOpen: true }, serverHandler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const results: Array<Promise<unknown>> = [];
  const proxy = net.createServer({ allowHalfOpen: true }, (inbound) => {
    const upstream = net.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
    results.push(splice(inbound, upstream));
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    connect: () => net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }),
    results,
    close: () => {
      server.close();
      proxy.close();
    },
  };
}

test("splice: a large transfer arrives intact both ways with backpressure", async () => {
  const payload = randomBytes(16 * 1024 * 1024);
  const r = await relay((s) => {
    // echo server that also half-closes after the client does
    s.pipe(s);
  });
  try {
    const c = r.connect();
    const hash = createHash("sha256");
    let received = 0;
    c.on("data", (d: Buffer) => {
      hash.update(d);
      received += d.length;
    });
    c.end(payload);
    await once(c, "end");
    assert.equal(received, payload.length);
    assert.equal(hash.digest("hex"), createHash("sha256").update(payload).digest("hex"));
    c.destroy();
    const res = await Promise.all(r.results);
    assert.deepEqual(res, [{}]);
  } finally {
    r.close();
  }
});

test("splice: half-close keeps the other direction open", async () => {
  const r = await relay((s) => {
    // server reads until client FIN, then answers, then closes
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => {
      setTimeout(() => s.end(`got ${Buffer.concat(chunks).toString()}`), 20);
    });
  });
  try {
    const c = r.connect();
    c.end("hello");
    const [data] = (await once(c, "data")) as [Buffer];
    assert.equal(data.toString(), "got hello");
    await once(c, "end");
    c.destroy();
  } finally {
    r.close();
  }
});

test("splice: a FIN that arrived before the splice started is passed on (the side emitted 'end' while paused)", async () => {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => s.end(`got ${Buffer.concat(chunks).toString()}|`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const results: Array<Promise<unknown>> = [];
  // A proxy that reads a request line, pauses while it "dials" (as the SOCKS5 listener does),
  // and splices once the upstream is connected; the client sent its request and FIN at once.
  const proxy = net.createServer({ allowHalfOpen: true }, (inbound) => {
    inbound.once("data", () => {
      inbound.pause();
      setTimeout(() => {
        const upstream = net.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
        upstream.once("connect", () => {
          inbound.resume();
          results.push(splice(inbound, upstream));
        });
      }, 50);
    });
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  const c = net.connect({ port: (proxy.address() as net.AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
  try {
    const got: Buffer[] = [];
    c.on("data", (d: Buffer) => got.push(d));
    c.end("request");
    const ended = await Promise.race([once(c, "end").then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
    assert.equal(ended, true, "the upstream never saw the client's FIN, so it never answered and closed");
    assert.equal(Buffer.concat(got).toString(), "got |");
    c.destroy();
    assert.deepEqual(await Promise.all(results), [{}]);
  } finally {
    c.destroy();
    server.close();
    proxy.close();
  }
});

test("splice: a reset on one side resets the other", async () => {
  let serverSide: net.Socket | undefined;
  const r = await relay((s) => {
    serverSide = s;
  });
  try {
    const c = r.connect();
    await once(c, "connect");
    while (!serverSide) await new Promise((res) => setTimeout(res, 5));
    const ending = new Promise<string>((resolve) => {
      c.once("error", (e: NodeJS.ErrnoException) => resolve(String(e.code)));
      c.once("end", () => resolve("end"));
    });
    c.resume();
    serverSide.resetAndDestroy();
    assert.equal(await ending, "ECONNRESET", "the relay passes the reset on as a reset, not a FIN");
    c.destroy();
    const res = (await Promise.all(r.results)) as Array<{ error?: Error }>;
    assert.match(String(res[0]?.error?.message), /ECONNRESET/);
  } finally {
    r.close();
  }
});
