import { test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { type H2Request, type H2Response, h2Exchange } from "./downstream-h2.js";

type Handler = (req: H2Request, res: H2Response) => void;

/** A loopback HTTP/2 server on the core stream API with `handle` behind h2Exchange, and one client session. */
async function withServer(handle: Handler, f: (client: http2.ClientHttp2Session) => Promise<void>): Promise<void> {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const x = h2Exchange(stream, headers);
    if (x) handle(x.req, x.res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    await f(client);
  } finally {
    client.close();
    server.close();
  }
}

interface Answer {
  readonly status: number;
  readonly informational: number[];
  readonly body: string;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  /** DATA frames the client saw (an empty END_STREAM frame after the body counts). */
  readonly frames: number;
}

function ask(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const st = client.request(headers, { endStream: body === undefined });
    if (body !== undefined) st.end(body);
    const informational: number[] = [];
    let status = 0;
    let text = "";
    let trailers: http2.IncomingHttpHeaders | undefined;
    let frames = 0;
    st.on("headers", (h) => informational.push(Number(h[":status"])));
    st.on("response", (h) => (status = Number(h[":status"])));
    st.on("trailers", (t) => (trailers = t));
    st.on("frameError", reject);
    st.on("data", (c: Buffer) => {
      frames++;
      text += c.toString();
    });
    st.on("error", reject);
    st.on("close", () => resolve({ status, informational, body: text, trailers, frames }));
    st.resume();
  });
}

test("h2 downstream: a head, a body and the stream's own request body, as IncomingMessage/ServerResponse", async () => {
  await withServer(
    (req, res) => {
      let got = "";
      req.on("data", (c: Buffer) => (got += c.toString()));
      req.once("end", () => {
        res.writeHead(201, { "content-type": "text/plain", "x-got": got });
        res.write(Buffer.from(`${req.method} ${req.url} ${req.httpVersion} `));
        res.end("done");
      });
    },
    async (client) => {
      const a = await ask(client, { ":method": "POST", ":path": "/p?q=1" }, "hello");
      assert.equal(a.status, 201);
      assert.equal(a.body, "POST /p?q=1 2.0 done");
      assert.equal(a.trailers, undefined);
    },
  );
});

test("h2 downstream: trailers are sent only when the head asked for them", async () => {
  await withServer(
    (req, res) => {
      const withTrailers = req.url === "/trailers";
      res.writeHead(200, { "content-type": "application/grpc" }, withTrailers);
      res.write(Buffer.from("x"));
      if (withTrailers) res.addTrailers({ "grpc-status": "0" });
      res.end();
    },
    async (client) => {
      const t = await ask(client, { ":path": "/trailers" });
      assert.equal(t.trailers?.["grpc-status"], "0");
      const n = await ask(client, { ":path": "/none" });
      assert.equal(n.trailers, undefined);
      assert.equal(n.body, "x");
    },
  );
});

test("h2 downstream: an end without a head answers the status set, with no DATA for an empty body", async () => {
  await withServer(
    (_req, res) => {
      res.statusCode = 204;
      res.end();
    },
    async (client) => {
      const a = await ask(client, { ":path": "/" });
      assert.equal(a.status, 204);
      assert.equal(a.frames, 0);
    },
  );
});

test("h2 downstream: CONNECT gets 405, an unknown expectation 417, 100-continue a 100 first (Node's compatibility layer's answers)", async () => {
  let seen = 0;
  await withServer(
    (_req, res) => {
      seen++;
      res.writeHead(200, {});
      res.end("ok");
    },
    async (client) => {
      assert.equal((await ask(client, { ":method": "CONNECT", ":authority": "example:443" })).status, 405);
      assert.equal((await ask(client, { ":path": "/", expect: "teapot" })).status, 417);
      const c = await ask(client, { ":method": "POST", ":path": "/", expect: "100-continue" }, "b");
      assert.deepEqual([c.informational, c.status, c.body], [[100], 200, "ok"]);
      assert.equal(seen, 1);
    },
  );
});
