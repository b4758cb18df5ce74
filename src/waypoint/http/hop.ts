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

/** End-to-end request or response headers of `h` (lower-case), without pseudo-headers. */
export function endToEnd(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>): HeaderMap {
  const named = new Set(
    String(h["connection"] ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(":") || HOP.has(k) || named.has(k)) continue;
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
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) n += k.length + String(x).length + 4;
  }
  return n;
}
