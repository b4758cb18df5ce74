/**
 * The lean HTTP/1.1 request codec's parser, pure: a request head, and a chunked request body.
 * It accepts a strict subset of what Node's llhttp accepts, read the same way, and answers
 * "handoff" for everything else, so that Node's http.Server (which stays as the fallback) serves
 * or rejects that connection from that request on (downstream-h1.ts).
 *
 * The subset (docs/waypoint.md "Traffic path", lean HTTP/1.1 codec):
 * - request line `METHOD SP origin-form SP HTTP/1.1 CRLF`: METHOD one of METHODS, the target
 *   starting with "/" and made of RFC 3986 path/query characters only; HTTP/1.0 is handed off;
 * - header lines `token ":" OWS value OWS CRLF`, values of SP, HTAB and VCHAR only (no obs-text,
 *   no control byte), no obs-fold, no whitespace before the colon, at most HEADER_COUNT_LIMIT
 *   lines, each name at most once (Node's rules for joining or dropping repeats are not
 *   reproduced), a Host header (Node's server requires one);
 * - framing: no body, `content-length` of 1 to 15 digits, or `transfer-encoding: chunked`
 *   exactly; both, or any other transfer coding: handoff;
 * - no `upgrade` or `expect` header, `connection` listing only `keep-alive` and `close`;
 * - the whole head (request line to the empty line) at most HEAD_LIMIT bytes, no empty line
 *   before the request line, CRLF line ends only.
 * Any byte of a partial head that can never start an accepted head (a bare LF, a control or
 * non-ASCII byte) hands off at once, so a head Node would reject is answered without waiting.
 *
 * Invariant: a head is reported complete only at its CRLFCRLF, so no prefix of an accepted head
 * is itself accepted (the table test checks every split).
 */

export const HEAD_LIMIT = 8192;
export const HEADER_COUNT_LIMIT = 100;
/** Longest chunk-size line (size and extensions) and trailer section accepted in a chunked body. */
export const CHUNK_LINE_LIMIT = 4096;
export const TRAILER_LIMIT = 8192;

/** Methods served here; any other (CONNECT first of all) goes to Node's server. */
export const METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]);

export type BodyFraming = { readonly kind: "none" } | { readonly kind: "length"; readonly length: number } | { readonly kind: "chunked" };

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: "1.1";
  /** Lower-case names, each once (as IncomingMessage.headers for such a head). */
  readonly headers: Record<string, string>;
  /** Names as sent and values, alternating (IncomingMessage.rawHeaders). */
  readonly rawHeaders: string[];
  readonly body: BodyFraming;
  /** No `connection: close`: the connection stays open after the response. */
  readonly keepAlive: boolean;
}

export type HeadParse =
  | { readonly kind: "more" }
  | { readonly kind: "head"; readonly head: RequestHead; readonly consumed: number }
  | { readonly kind: "handoff"; readonly reason: string };

const MORE: HeadParse = { kind: "more" };
const NONE: BodyFraming = { kind: "none" };
const CHUNKED: BodyFraming = { kind: "chunked" };

function table(chars: string, ranges: ReadonlyArray<readonly [number, number]> = []): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) t[c] = 1;
  return t;
}

const ALNUM: ReadonlyArray<readonly [number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];
/** RFC 9110 tchar. */
export const TOKEN = table("!#$%&'*+-.^_`|~", ALNUM);
/** RFC 3986 pchar plus "/" and "?" (unreserved, pct-encoded's "%", sub-delims, ":", "@"). */
const TARGET = table("-._~%!$&'()*+,;=:@/?", ALNUM);
/** Header value bytes: SP, HTAB, VCHAR. */
export const VALUE = table("\t", [[0x20, 0x7e]]);
/** Bytes that may appear anywhere in an accepted head besides CR and LF. */
const HEAD_BYTE = VALUE;

const CRLFCRLF = Buffer.from("\r\n\r\n");

/** Parses the request head at `buf[start..]`. */
export function parseHead(buf: Buffer, start = 0): HeadParse {
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) return partial(buf, start);
  if (end + 4 - start > HEAD_LIMIT) return handoff("head longer than the lean codec's limit");
  const text = buf.toString("latin1", start, end + 2);
  const r = parseText(text);
  if (typeof r === "string") return handoff(r);
  return { kind: "head", head: r, consumed: end + 4 - start };
}

function handoff(reason: string): HeadParse {
  return { kind: "handoff", reason };
}

/** An incomplete head: more, unless what is there already rules the lean codec out. */
function partial(buf: Buffer, start: number): HeadParse {
  if (buf.length - start > HEAD_LIMIT) return handoff("head longer than the lean codec's limit");
  for (let i = start; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0a) {
      if (i === start || buf[i - 1] !== 0x0d) return handoff("bare LF");
    } else if (c === 0x0d) {
      if (i === start) return handoff("empty line before the request line");
      if (i + 1 < buf.length && buf[i + 1] !== 0x0a) return handoff("bare CR");
    } else if (!HEAD_BYTE[c]) return handoff("a byte outside the lean codec's set");
  }
  return MORE;
}

/** The head's text, request line to the CRLF of the last header line. */
function parseText(text: string): RequestHead | string {
  let eol = text.indexOf("\r\n");
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(" ");
  if (sp1 <= 0) return "request line without a method";
  const method = line.slice(0, sp1);
  if (!METHODS.has(method)) return `method ${method.slice(0, 16)} not served by the lean codec`;
  const sp2 = line.indexOf(" ", sp1 + 1);
  if (sp2 < 0) return "request line without a version";
  const url = line.slice(sp1 + 1, sp2);
  if (url.charCodeAt(0) !== 0x2f) return "request target not in origin form";
  for (let i = 1; i < url.length; i++) if (!TARGET[url.charCodeAt(i)]) return "request target byte outside the lean codec's set";
  const version = line.slice(sp2 + 1);
  if (version !== "HTTP/1.1") return `version ${version.slice(0, 16)} not served by the lean codec`;
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  let count = 0;
  let length: string | undefined;
  let te: string | undefined;
  let keepAlive = true;
  let host = false;
  for (let pos = eol + 2; pos < text.length; pos = eol + 2) {
    eol = text.indexOf("\r\n", pos);
    if (++count > HEADER_COUNT_LIMIT) return "more header lines than the lean codec's limit";
    let colon = -1;
    for (let i = pos; i < eol; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x3a) {
        colon = i;
        break;
      }
      if (!TOKEN[c]) return i === pos ? "header line starting with a non-token byte (obs-fold)" : "header name byte outside the token set";
    }
    if (colon <= pos) return colon === pos ? "empty header name" : "header line without a colon";
    let a = colon + 1;
    let b = eol;
    while (a < b && (text.charCodeAt(a) === 0x20 || text.charCodeAt(a) === 0x09)) a++;
    while (b > a && (text.charCodeAt(b - 1) === 0x20 || text.charCodeAt(b - 1) === 0x09)) b--;
    for (let i = a; i < b; i++) if (!VALUE[text.charCodeAt(i)]) return "header value byte outside the lean codec's set";
    const name = text.slice(pos, colon);
    const value = text.slice(a, b);
    const key = name.toLowerCase();
    if (headers[key] !== undefined) return `repeated header ${key.slice(0, 32)}`;
    headers[key] = value;
    rawHeaders.push(name, value);
    switch (key) {
      case "content-length":
        if (!/^[0-9]{1,15}$/.test(value)) return "content-length not 1 to 15 digits";
        length = value;
        break;
      case "transfer-encoding":
        if (value !== "chunked") return "transfer-encoding other than chunked";
        te = value;
        break;
      case "connection":
        for (const t of value.split(",")) {
          const o = t.trim().toLowerCase();
          if (o === "close") keepAlive = false;
          else if (o !== "keep-alive") return "connection option other than keep-alive or close";
        }
        break;
      case "upgrade":
        return "upgrade";
      case "expect":
        return "expect";
      case "host":
        host = true;
        break;
    }
  }
  if (!host) return "no host header";
  if (length !== undefined && te !== undefined) return "both content-length and transfer-encoding";
  const body: BodyFraming =
    te !== undefined ? CHUNKED : length !== undefined && Number(length) > 0 ? { kind: "length", length: Number(length) } : NONE;
  return { method, url, httpVersion: "1.1", headers, rawHeaders, body, keepAlive };
}

export type ChunkStep =
  /** Body bytes `buf[start..end)`; continue at `end`. */
  | { readonly kind: "data"; readonly start: number; readonly end: number }
  /** Framing consumed up to `next`; nothing more can be read from the buffer yet. */
  | { readonly kind: "more"; readonly next: number }
  /** The body ended at `next` (after the trailers' empty line). */
  | { readonly kind: "done"; readonly next: number }
  | { readonly kind: "error"; readonly reason: string };

const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x41 + i] = t[0x61 + i] = 10 + i;
  return t;
})();

/**
 * A chunked request body (RFC 9112 7.1): chunk sizes in hex (at most 2^53 - 1; llhttp's limit is
 * 2^64 - 1), chunk extensions `;name[=token|quoted-string]` without whitespace, trailer lines as
 * header lines (read and dropped: the request path sends no request trailers), the final CRLF.
 * One step per call; the decoder keeps only its state, never the bytes.
 */
export class ChunkedDecoder {
  private state: "size" | "data" | "data-crlf" | "trailers" = "size";
  private left = 0;
  private trailerBytes = 0;

  next(buf: Buffer, pos: number): ChunkStep {
    switch (this.state) {
      case "data": {
        if (pos >= buf.length) return { kind: "more", next: pos };
        const end = Math.min(buf.length, pos + this.left);
        this.left -= end - pos;
        if (this.left === 0) this.state = "data-crlf";
        return { kind: "data", start: pos, end };
      }
      case "data-crlf": {
        if (buf.length - pos < 2) {
          if (buf.length > pos && buf[pos] !== 0x0d) return { kind: "error", reason: "chunk data not followed by CRLF" };
          return { kind: "more", next: pos };
        }
        if (buf[pos] !== 0x0d || buf[pos + 1] !== 0x0a) return { kind: "error", reason: "chunk data not followed by CRLF" };
        this.state = "size";
        return this.next(buf, pos + 2);
      }
      case "size":
        return this.sizeLine(buf, pos);
      case "trailers":
        return this.trailerLine(buf, pos);
    }
  }

  private sizeLine(buf: Buffer, pos: number): ChunkStep {
    const eol = buf.indexOf(0x0a, pos);
    if (eol < 0) {
      if (buf.length - pos > CHUNK_LINE_LIMIT) return { kind: "error", reason: "chunk size line too long" };
      return { kind: "more", next: pos };
    }
    if (eol - pos > CHUNK_LINE_LIMIT) return { kind: "error", reason: "chunk size line too long" };
    if (eol === pos || buf[eol - 1] !== 0x0d) return { kind: "error", reason: "chunk size line not ended by CRLF" };
    const end = eol - 1;
    let i = pos;
    let size = 0;
    for (; i < end && HEX[buf[i]!]! >= 0; i++) {
      size = size * 16 + HEX[buf[i]!]!;
      if (size > Number.MAX_SAFE_INTEGER) return { kind: "error", reason: "chunk size overflow" };
    }
    if (i === pos) return { kind: "error", reason: "chunk size not hex" };
    const ext = chunkExtensions(buf, i, end);
    if (ext) return { kind: "error", reason: ext };
    if (size === 0) {
      this.state = "trailers";
      return this.trailerLine(buf, eol + 1);
    }
    this.left = size;
    this.state = "data";
    return this.next(buf, eol + 1);
  }

  private trailerLine(buf: Buffer, pos: number): ChunkStep {
    const eol = buf.indexOf(0x0a, pos);
    if (eol < 0) {
      if (this.trailerBytes + buf.length - pos > TRAILER_LIMIT) return { kind: "error", reason: "trailers too long" };
      return { kind: "more", next: pos };
    }
    this.trailerBytes += eol + 1 - pos;
    if (this.trailerBytes > TRAILER_LIMIT) return { kind: "error", reason: "trailers too long" };
    if (eol === pos || buf[eol - 1] !== 0x0d) return { kind: "error", reason: "trailer line not ended by CRLF" };
    if (eol - 1 === pos) return { kind: "done", next: eol + 1 };
    const bad = headerLineError(buf, pos, eol - 1);
    if (bad) return { kind: "error", reason: bad };
    return this.trailerLine(buf, eol + 1);
  }
}

/** `;name[=value]` repeated over `buf[i..end)`; the reason it is malformed, or undefined. */
function chunkExtensions(buf: Buffer, i: number, end: number): string | undefined {
  while (i < end) {
    if (buf[i] !== 0x3b) return "chunk size followed by something other than an extension";
    const n = ++i;
    while (i < end && TOKEN[buf[i]!]) i++;
    if (i === n) return "chunk extension without a name";
    if (i === end || buf[i] === 0x3b) continue;
    if (buf[i] !== 0x3d) return "chunk extension name followed by something other than = or ;";
    i++;
    if (buf[i] === 0x22) {
      i++;
      for (;;) {
        if (i >= end) return "unterminated quoted chunk extension value";
        const c = buf[i]!;
        if (c === 0x22) break;
        if (c === 0x5c) {
          if (i + 1 >= end || !VALUE[buf[i + 1]!]) return "bad quoted-pair in a chunk extension";
          i += 2;
          continue;
        }
        if (!VALUE[c]) return "chunk extension value byte outside the lean codec's set";
        i++;
      }
      i++;
    } else {
      const v = i;
      while (i < end && TOKEN[buf[i]!]) i++;
      if (i === v) return "chunk extension without a value after =";
    }
  }
  return undefined;
}

/**
 * Trailer names llhttp reads with its header rules (framing and connection): it refuses some
 * in trailers (content-length, transfer-encoding: found by the fuzzer), so all are refused here.
 */
const FRAMING_TRAILERS: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection", "proxy-connection", "upgrade"]);

/** A trailer line `buf[pos..end)` (no CRLF) as a header line; the reason it is malformed, or undefined. */
function headerLineError(buf: Buffer, pos: number, end: number): string | undefined {
  let i = pos;
  while (i < end && TOKEN[buf[i]!]) i++;
  if (i === pos || i === end || buf[i] !== 0x3a) return "malformed trailer line";
  if (i - pos <= 17 && FRAMING_TRAILERS.has(buf.toString("latin1", pos, i).toLowerCase())) return "a framing header in the trailers";
  for (i++; i < end; i++) if (!VALUE[buf[i]!]) return "trailer value byte outside the lean codec's set";
  return undefined;
}
