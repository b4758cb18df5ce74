/**
 * Fuzz target (in process) for the waypoint's lean HTTP/1.1 request parser
 * (src/waypoint/http/downstream-h1-parse.ts), with llhttp as the oracle: a real Node
 * http.Server (never listening; fed through an in-memory stream pair) reads the same bytes.
 *
 * Oracle: no exception; an accepted head is consumed whole, no prefix of it is accepted (a head
 * split across reads ends where it ends whole), and the same bytes at an offset parse the same;
 * llhttp reads an accepted head the same (method, url, headers, rawHeaders); a body the lean
 * decoder reads to its end (content-length or chunked), llhttp reads to the same bytes (never
 * a message boundary of its own: the smuggling check). The lean codec may refuse what llhttp
 * accepts (a handoff, or its 400 on a chunked body); never the other way round.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { duplexPair } from "node:stream";
import { ChunkedDecoder, parseHead, type RequestHead } from "../../src/waypoint/http/downstream-h1-parse.js";
import type { FuzzTarget } from "./runner.js";

interface LlhttpRead {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  /** The body, when llhttp saw its end. */
  body?: string;
  /** The url of the request llhttp read after this one, if any. */
  next?: string;
}

/** A request llhttp must find right after the message (the boundary check). */
const SENTINEL = Buffer.from("GET /next HTTP/1.1\r\nhost: x\r\n\r\n");

let server: http.Server | undefined;
const reads = new WeakMap<object, { first?: LlhttpRead; done: (r: LlhttpRead | undefined) => void }>();

/**
 * What Node's server reads of `input` (undefined: a parse error in the first head); with `sentinel`, `next` is the
 * request it reads after the first. The bytes are written without an end, so no end of stream
 * races the request's own events.
 */
function llhttpRead(input: Buffer, sentinel: boolean): Promise<LlhttpRead | undefined> {
  server ??= http
    .createServer({ requestTimeout: 0 }, (req) => {
      const r = reads.get(req.socket);
      if (!r) return;
      if (r.first) {
        r.first.next = req.url ?? "";
        if (r.first.body !== undefined) r.done(r.first);
        return;
      }
      const first: LlhttpRead = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, rawHeaders: req.rawHeaders };
      r.first = first;
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("latin1")));
      req.once("end", () => {
        first.body = body;
        if (!sentinel || first.next !== undefined) r.done(first);
      });
    })
    .on("clientError", (_e, socket) => {
      // A head llhttp accepted was a request already (its body, or what follows, is what it refused).
      const r = reads.get(socket);
      r?.done(r.first);
      socket.destroy();
    });
  const [client, side] = duplexPair();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: LlhttpRead | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      side.destroy();
      resolve(r);
    };
    reads.set(side, { done });
    const timer = setTimeout(() => done(reads.get(side)?.first), 200);
    client.on("error", () => {});
    client.on("data", () => {});
    server!.emit("connection", side);
    client.write(sentinel ? Buffer.concat([input, SENTINEL]) : input);
  });
}

/** The body the lean codec reads after the head and its length on the wire; undefined when it would refuse it or needs more bytes. */
function leanBody(head: RequestHead, rest: Buffer): { body: string; wire: number } | undefined {
  if (head.body.kind === "none") return { body: "", wire: 0 };
  const n = head.body.kind === "length" ? head.body.length : 0;
  if (head.body.kind === "length") return rest.length >= n ? { body: rest.subarray(0, n).toString("latin1"), wire: n } : undefined;
  const d = new ChunkedDecoder();
  let body = "";
  for (let pos = 0; ;) {
    const s = d.next(rest, pos);
    if (s.kind === "error" || s.kind === "more") return undefined;
    if (s.kind === "done") return { body, wire: s.next };
    assert.ok(s.start >= pos && s.end > s.start && s.end <= rest.length, `chunk data ${s.start}..${s.end} outside ${pos}..${rest.length}`);
    body += rest.subarray(s.start, s.end).toString("latin1");
    pos = s.end;
  }
}

export const h1RequestTarget: FuzzTarget = {
  name: "h1-request",
  maxLen: 4096,
  watchdogMs: 3000,
  dictionary: [
    "\r\n",
    "\r\n\r\n",
    "\n",
    "\r",
    "\0",
    " ",
    "\t",
    ":",
    ";",
    "=",
    '"',
    "HTTP/1.1",
    "HTTP/1.0",
    "content-length: ",
    "Content-Length: 0",
    "transfer-encoding: chunked",
    "Transfer-Encoding: ",
    "connection: close",
    "connection: upgrade",
    "upgrade: websocket",
    "expect: 100-continue",
    "host: svc",
    "0\r\n\r\n",
    "ffffffffffffffffff",
    "CONNECT ",
    "http://",
    "*",
    "\xff",
  ],
  async run(input) {
    const r = parseHead(input);
    if (r.kind !== "head") return;
    assert.ok(r.consumed > 0 && r.consumed <= input.length, `consumed ${r.consumed} of ${input.length}`);
    const step = r.consumed <= 256 ? 1 : Math.ceil(r.consumed / 64);
    for (let n = 0; n < r.consumed; n += step) assert.notEqual(parseHead(input.subarray(0, n)).kind, "head", `a ${n}-byte prefix accepted`);
    const shifted = parseHead(Buffer.concat([Buffer.from("GARBAGE"), input]), 7);
    assert.deepEqual(shifted, r, "the same head at an offset parses differently");
    const body = leanBody(r.head, input.subarray(r.consumed));
    // The message alone (as far as the lean codec reads it), then a sentinel request.
    const message = input.subarray(0, body ? r.consumed + body.wire : input.length);
    // After `connection: close` llhttp takes any further byte as an error: no sentinel then.
    const sentinel = body !== undefined && r.head.keepAlive;
    const node = await llhttpRead(message, sentinel);
    assert.ok(node, `accepted a head llhttp rejects: ${JSON.stringify(input.subarray(0, r.consumed).toString("latin1"))}`);
    assert.equal(node.method, r.head.method);
    assert.equal(node.url, r.head.url);
    assert.deepEqual({ ...node.headers }, r.head.headers);
    assert.deepEqual(node.rawHeaders, r.head.rawHeaders);
    if (!body) return;
    assert.equal(node.body, body.body, "llhttp read another body");
    if (sentinel) assert.equal(node.next, "/next", "llhttp did not find the next request where the lean codec ends the message");
  },
};
