/**
 * Request identity and trace context at the waypoint hop, pure (randomness injected):
 * - `x-request-id`: kept if the client sent one, else a new UUID (Envoy's generate_request_id).
 * - W3C `traceparent`: same trace id and flags, a new span id for the waypoint's hop (the
 *   client's span becomes the parent); `tracestate` passes unchanged. Malformed values are
 *   dropped (the W3C rule: restart rather than propagate garbage).
 * - B3 (multi-header `x-b3-*` and single `b3`): same trace id and sampling, `x-b3-spanid` new,
 *   `x-b3-parentspanid` = the client's span id.
 * When the client sent no trace context, none is started unless the listener traces
 * (`start`: a tracing provider is configured): then a new W3C trace begins here, sampled as
 * `start.sampled` says (Envoy's random_sampling); docs/waypoint.md.
 */
import type { HeaderMap } from "../route/rewrite.js";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export interface TraceIds {
  /** 16 random bytes as hex: 32 chars for request ids / 16 for span ids come from here. */
  randomHex(bytes: number): string;
  uuid(): string;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Returns the headers to send upstream and the ids for the access log. */
export interface Propagated {
  readonly headers: HeaderMap;
  readonly requestId: string;
  /** The waypoint hop's W3C context, sent upstream. */
  readonly traceparent?: string;
  /** The client's span id (the hop's parent), when the client sent one. */
  readonly parentSpanId?: string;
}

export function propagate(headers: HeaderMap, ids: TraceIds, start?: { readonly sampled: boolean }): Propagated {
  const out: HeaderMap = { ...headers };
  const requestId = one(out["x-request-id"]) || ids.uuid();
  out["x-request-id"] = requestId;
  let traceparent: string | undefined;
  let parentSpanId: string | undefined;
  const tp = one(out["traceparent"]);
  if (tp !== undefined) {
    const m = TRACEPARENT.exec(tp.trim().toLowerCase());
    if (m && m[1] !== "ff" && m[2] !== ZERO_TRACE && m[3] !== ZERO_SPAN) {
      traceparent = `00-${m[2]}-${ids.randomHex(8)}-${m[4]}`;
      parentSpanId = m[3];
      out["traceparent"] = traceparent;
    } else {
      delete out["traceparent"];
      delete out["tracestate"];
    }
  }
  if (!traceparent && start) {
    traceparent = `00-${ids.randomHex(16)}-${ids.randomHex(8)}-${start.sampled ? "01" : "00"}`;
    out["traceparent"] = traceparent;
  }
  const b3trace = one(out["x-b3-traceid"]);
  const b3span = one(out["x-b3-spanid"]);
  if (b3trace && b3span && /^[0-9a-f]{16}([0-9a-f]{16})?$/i.test(b3trace) && /^[0-9a-f]{16}$/i.test(b3span)) {
    out["x-b3-parentspanid"] = b3span.toLowerCase();
    out["x-b3-spanid"] = ids.randomHex(8);
  }
  const single = one(out["b3"]);
  if (single !== undefined && single.includes("-")) {
    const [trace, span, sampled] = single.split("-");
    if (trace && span && /^[0-9a-f]{16}$/i.test(span)) out["b3"] = [trace, ids.randomHex(8), sampled ?? "1", span].join("-");
  }
  return { headers: out, requestId, ...(traceparent ? { traceparent } : {}), ...(parentSpanId ? { parentSpanId } : {}) };
}
