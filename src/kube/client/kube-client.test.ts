import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { getEventListeners } from "node:events";
import type { AddressInfo } from "node:net";
import { KubeClient, statusError, type WatchEvent } from "./kube-client.js";

/** A plain HTTP server on 127.0.40.2 whose answers each case scripts (wire-level framing tests). */
async function withServer(handler: http.RequestListener, fn: (c: KubeClient) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.40.2", r));
  const c = new KubeClient({ server: `http://127.0.40.2:${(server.address() as AddressInfo).port}`, token: "t0k" });
  try {
    await fn(c);
  } finally {
    c.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const ev = (type: string, name: string, rv: string): string =>
  JSON.stringify({ type, object: { metadata: { name, resourceVersion: rv } } });

void test("kube-client: watch events split across chunks are reassembled line by line", async () => {
  const stream = `${ev("ADDED", "a", "1")}\n${ev("MODIFIED", "a", "2")}\n\n${ev("BOOKMARK", "", "3")}\n${ev("DELETED", "a", "4")}\n`;
  await withServer(
    (req, res) => {
      assert.equal(req.headers.authorization, "Bearer t0k");
      res.writeHead(200, { "content-type": "application/json" });
      // Dribble the stream out in 7-byte pieces so lines straddle chunk boundaries.
      let i = 0;
      const t = setInterval(() => {
        if (i >= stream.length) {
          clearInterval(t);
          res.end();
          return;
        }
        res.write(stream.slice(i, (i += 7)));
      }, 1);
    },
    async (c) => {
      const seen: string[] = [];
      const r = await c.watch(
        "/api/v1/pods?watch=1",
        (e: WatchEvent) => seen.push(`${e.type}@${(e.object.metadata as { resourceVersion: string }).resourceVersion}`),
        new AbortController().signal,
      );
      assert.ok(r.ok);
      assert.deepEqual(seen, ["ADDED@1", "MODIFIED@2", "BOOKMARK@3", "DELETED@4"]);
    },
  );
});

void test("kube-client: broken streams and error answers become KubeError values", async () => {
  const cases: Array<{
    name: string;
    handler: http.RequestListener;
    want: { code: string; httpStatus?: number; reason?: string; message: RegExp };
  }> = [
    {
      name: "a line that is not JSON ends the watch with decode",
      handler: (_q, res) => {
        res.writeHead(200);
        res.write(`${ev("ADDED", "a", "1")}\n{not json\n`);
      },
      want: { code: "decode", message: /event is not JSON/ },
    },
    {
      name: "an event without type is rejected",
      handler: (_q, res) => {
        res.writeHead(200);
        res.write(`{"object":{}}\n`);
      },
      want: { code: "decode", message: /no type or object/ },
    },
    {
      name: "410 on watch open keeps status and reason",
      handler: (_q, res) => {
        res.writeHead(410);
        res.end(JSON.stringify({ kind: "Status", reason: "Expired", message: "too old resource version: 1 (50)", code: 410 }));
      },
      want: { code: "status", httpStatus: 410, reason: "Expired", message: /410 Expired: too old resource version/ },
    },
    {
      name: "a connection cut mid-stream is a transport error",
      handler: (_q, res) => {
        res.writeHead(200);
        res.write(`${ev("ADDED", "a", "1")}\n`);
        setTimeout(() => res.socket?.destroy(), 20);
      },
      want: { code: "transport", message: /watch .*(aborted|socket hang up|ECONNRESET)/ },
    },
  ];
  for (const c of cases) {
    await withServer(c.handler, async (client) => {
      const r = await client.watch("/api/v1/pods?watch=1", () => undefined, new AbortController().signal);
      assert.ok(!r.ok, c.name);
      assert.equal(r.error.code, c.want.code, c.name);
      assert.equal(r.error.httpStatus, c.want.httpStatus, c.name);
      assert.equal(r.error.reason, c.want.reason, c.name);
      assert.match(r.error.message, c.want.message, c.name);
    });
  }
});

void test("kube-client: requests decode JSON, map refusals and aborts, and watches stop on abort", async () => {
  await withServer(
    (req, res) => {
      if (req.url === "/ok") return res.end(JSON.stringify({ kind: "PodList", items: [] }));
      if (req.url === "/html") return res.end("<html>");
      if (req.url === "/forbidden") {
        res.writeHead(403);
        return res.end(JSON.stringify({ kind: "Status", reason: "Forbidden", message: 'pods is forbidden: User "x" cannot list' }));
      }
      res.writeHead(200);
      res.write(`${ev("ADDED", "a", "1")}\n`); // a watch that never ends
    },
    async (c) => {
      const okr = await c.request<{ kind: string }>("GET", "/ok");
      assert.ok(okr.ok);
      assert.equal(okr.value.kind, "PodList");
      // A source's signal lives as long as the source: finished requests leave no listener on it.
      const longLived = new AbortController().signal;
      for (let i = 0; i < 20; i++)
        assert.ok((await c.request("GET", i % 2 ? "/ok" : "/forbidden", undefined, { signal: longLived })).ok === (i % 2 === 1));
      assert.equal(getEventListeners(longLived, "abort").length, 0);
      const html = await c.request("GET", "/html");
      assert.ok(!html.ok);
      assert.equal(html.error.code, "decode");
      const forbidden = await c.request("GET", "/forbidden");
      assert.ok(!forbidden.ok);
      assert.equal(forbidden.error.reason, "Forbidden");
      assert.equal(forbidden.error.httpStatus, 403);

      const ac = new AbortController();
      const seen: string[] = [];
      const w = c.watch(
        "/watch",
        (e) => {
          seen.push(e.type);
          ac.abort();
        },
        ac.signal,
      );
      const r = await w;
      assert.ok(!r.ok);
      assert.equal(r.error.code, "aborted");
      assert.deepEqual(seen, ["ADDED"]);
    },
  );
  const refused = new KubeClient({ server: "http://127.0.40.2:1" });
  const r = await refused.request("GET", "/x", undefined, { timeoutMs: 2000 });
  refused.close();
  assert.ok(!r.ok);
  assert.equal(r.error.code, "transport");
  assert.match(r.error.message, /ECONNREFUSED/);
});

void test("kube-client: statusError keeps raw text when the answer is not a Status", () => {
  const e = statusError("GET /x", 502, "bad gateway from a proxy");
  assert.equal(e.httpStatus, 502);
  assert.equal(e.reason, undefined);
  assert.match(e.message, /^GET \/x: 502: bad gateway from a proxy$/);
});
