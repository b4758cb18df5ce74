/**
 * Reading a downstream request's body ahead of routing, for an ext_authz filter with
 * `with_request_body` (Envoy's ext_authz decodeHeaders/decodeData): a request that ends with its
 * headers has no body to buffer; otherwise bytes are collected until the body ends, or, with
 * allow_partial_message, until max_request_bytes are buffered (then the request is paused), or,
 * without it, until more than max_request_bytes arrived (Envoy's decoder buffer limit: 413).
 *
 * The bytes read here are gone from the stream: the caller hands them to the upstream and the
 * mirrors as a prefix (resilience/replay-body.ts), so the backend still receives the whole body.
 * Invariant: when this resolves, the request is paused and no 'data' listener of this module is
 * left, so no chunk is emitted before the next consumer attaches.
 */
import { H2Request } from "./downstream-h2.js";
import type { DownstreamRequest } from "./context.js";

export type BufferedBody =
  | { readonly kind: "none" }
  | { readonly kind: "body"; readonly chunks: readonly Buffer[]; readonly complete: boolean }
  | { readonly kind: "too_large"; readonly chunks: readonly Buffer[] }
  | { readonly kind: "gone"; readonly chunks: readonly Buffer[] };

/** Whether the request carries a body (Envoy: its headers did not end the stream). */
export function hasRequestBody(req: DownstreamRequest): boolean {
  if (req.readableEnded) return false;
  if (req instanceof H2Request) return !req.stream.endAfterHeaders;
  const h = req.headers;
  if (h["transfer-encoding"] !== undefined) return true;
  const n = Number(h["content-length"] ?? 0);
  return Number.isFinite(n) && n > 0;
}

/** Whether body bytes go upstream: a body prefix the HTTP filters read ahead (ext_authz), or the request's own body. */
export function sendsBody(req: DownstreamRequest, prefix: readonly Buffer[] = []): boolean {
  return prefix.length > 0 || hasRequestBody(req);
}

export function bufferRequestBody(req: DownstreamRequest, maxBytes: number, allowPartial: boolean): Promise<BufferedBody> {
  if (!hasRequestBody(req)) return Promise.resolve({ kind: "none" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (r: BufferedBody) => {
      req.pause();
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      // Envoy's buffer limit: more than the limit overflows (413); with partial messages the
      // check starts as soon as the buffer holds the limit.
      if (!allowPartial && size > maxBytes) finish({ kind: "too_large", chunks });
      else if (allowPartial && size >= maxBytes) finish({ kind: "body", chunks, complete: false });
    };
    const onEnd = () => finish({ kind: "body", chunks, complete: true });
    const onClose = () => {
      if (!req.readableEnded) finish({ kind: "gone", chunks });
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onClose);
    req.resume();
  });
}
