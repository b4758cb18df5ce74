/**
 * Header hygiene between the downstream and upstream HTTP messages, pure: hop-by-hop headers
 * (RFC 9110 7.6.1 plus those named in `connection`) never cross, HTTP/2 pseudo-headers are
 * rebuilt by whoever sends, `te` passes only as "trailers" (gRPC needs it on HTTP/2).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { HeaderMap } from "../route/rewrite.js";

const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "http2-settings",
  "host",
]);

/** Header names a `connection` header lists (lower-case), or undefined without one. */
function connectionNamed(v: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (v === undefined) return undefined;
  // The common value names only a hop-by-hop header already dropped (keep-alive is in HOP): no Set per message.
  if (v === "keep-alive" || v === "Keep-Alive") return undefined;
  const named = new Set<string>();
  for (const t of String(v).split(",")) {
    const n = t.trim().toLowerCase();
    if (n) named.add(n);
  }
  return named;
}

/**
 * End-to-end request or response headers of `h` (lower-case), without pseudo-headers. On the
 * per-request path (twice per request): a plain loop, no Set unless `connection` names headers.
 */
export function endToEnd(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>): HeaderMap {
  const named = connectionNamed(h["connection"]);
  const out: HeaderMap = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.charCodeAt(0) === 58 /* ":" */ || HOP.has(k) || named?.has(k)) continue;
    if (k === "te") {
      if (String(v).toLowerCase().includes("trailers")) out[k] = "trailers";
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** Request/response body size on the wire as Istio counts it (headers plus body, approximately). */
export function headerBytes(h: Record<string, string | string[] | undefined | number>): number {
  let n = 0;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) n += k.length + String(x).length + 4;
    else n += k.length + String(v).length + 4;
  }
  return n;
}

/**
 * The headers of an HTTP/1.1 upstream request (undici): the end-to-end ones with `host`. An
 * `expect` is not forwarded: the downstream server answered 100-continue itself (Node's server
 * and Envoy's default, proxy_100_continue off, do), and undici refuses to send one.
 */
export function h1RequestHeaders(h: HeaderMap, authority: string): HeaderMap {
  const out: HeaderMap = { ...h, host: authority };
  if (out["expect"] !== undefined) delete out["expect"];
  return out;
}

/** Whether a response head announces trailers (RFC 9110 6.6.2 `trailer`); an HTTP/2 downstream then waits for them. */
export function announcesTrailers(h: Record<string, unknown>): boolean {
  return h["trailer"] !== undefined;
}

/** Headers of which Node's HTTP/1.1 parser keeps only the first value (lib/_http_incoming.js `matchKnownFields`). */
const FIRST_ONLY = new Set([
  "content-type",
  "content-length",
  "user-agent",
  "referer",
  "host",
  "authorization",
  "proxy-authorization",
  "if-modified-since",
  "if-unmodified-since",
  "from",
  "location",
  "max-forwards",
  "retry-after",
  "etag",
  "last-modified",
  "server",
  "age",
  "expires",
]);

/**
 * Repeated response header lines as Node's IncomingMessage presents them (undici gives each
 * repeated name an array): `set-cookie` stays a list, the single-valued headers above keep their
 * first value, `cookie` joins with "; ", any other with ", ". Relayed heads and trailers keep
 * the shape they had with Node's client (an HTTP/2 downstream refuses a list for a single-valued
 * header). Changes `h` in place; a head without repeats (the common case) is only looked at.
 */
export function joinRepeated(h: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  for (const k in h) {
    const v = h[k];
    if (!Array.isArray(v) || k === "set-cookie") continue;
    h[k] = FIRST_ONLY.has(k) ? v[0] : v.join(k === "cookie" ? "; " : ", ");
  }
  return h;
}
