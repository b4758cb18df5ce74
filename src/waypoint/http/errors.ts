/**
 * Every way a request can fail at the waypoint, mapped in one place to the status, body and
 * Envoy response flag the client and the telemetry see (Envoy's own mapping):
 * NR 404 no route, NC 503 cluster not found, UH 503 no healthy upstream, UF 503 upstream
 * connection failure (HBONE or TCP connect), UR/UC 503 upstream reset or closed before the
 * response headers, UPE 502 an upstream protocol error, UT 504 route timeout, UO 503 circuit
 * breaker overflow (the cluster's max_requests / max_pending_requests), DC (downstream
 * closed, logged only), and local "upgrade_failed" 403 for an upgrade the listener does not allow.
 */
export type ProxyFailure = "NR" | "NC" | "UH" | "UF" | "UR" | "UC" | "UPE" | "UT" | "UO" | "DC" | "UPGRADE";

export interface FailureResponse {
  readonly status: number;
  readonly flags: string;
  readonly body: string;
  readonly details: string;
}

export function failureResponse(kind: ProxyFailure, reason: string): FailureResponse {
  switch (kind) {
    case "NR":
      return { status: 404, flags: "NR", body: "", details: "route_not_found" };
    case "NC":
      return { status: 503, flags: "NC", body: "", details: "cluster_not_found" };
    case "UH":
      return { status: 503, flags: "UH", body: "no healthy upstream", details: "no_healthy_upstream" };
    case "UF":
      return {
        status: 503,
        flags: "UF",
        body: `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${reason}`,
        details: "upstream_reset_before_response_started{connection_failure}",
      };
    case "UR":
      return {
        status: 503,
        flags: "UR",
        body: `upstream connect error or disconnect/reset before headers. reset reason: remote reset`,
        details: "upstream_reset_before_response_started{remote_reset}",
      };
    case "UC":
      return {
        status: 503,
        flags: "UC",
        body: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
        details: "upstream_reset_before_response_started{connection_termination}",
      };
    case "UPE":
      return { status: 502, flags: "UPE", body: "upstream protocol error", details: "upstream_protocol_error" };
    case "UT":
      return { status: 504, flags: "UT", body: "upstream request timeout", details: "upstream_response_timeout" };
    case "UO":
      return {
        status: 503,
        flags: "UO",
        body: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
        details: "upstream_reset_before_response_started{overflow}",
      };
    case "DC":
      return { status: 0, flags: "DC", body: "", details: "downstream_remote_disconnect" };
    case "UPGRADE":
      return { status: 403, flags: "", body: "", details: "upgrade_failed" };
  }
}

/**
 * undici's error codes (its lib/core/errors.js), each mapped to the flag Node's HTTP/1.1 client
 * produced for the same event, so the waypoint's flags did not change with the client:
 * - UND_ERR_SOCKET: the connection ended or closed under the request ("other side closed",
 *   "closed"); Node said "socket hang up" (ECONNRESET) before the head, 'aborted' after it: UR.
 * - HPE_INVALID_EOF_STATE: the connection ended inside a body that declared its length
 *   (`connection: close` responses); Node's 'aborted': UR.
 * - UND_ERR_RES_CONTENT_LENGTH_MISMATCH: the body ended short of its content-length: UR.
 * - UND_ERR_HEADERS_OVERFLOW: a response head over the size limit (Node's HPE_HEADER_OVERFLOW): UPE.
 * - UND_ERR_REQ_CONTENT_LENGTH_MISMATCH, UND_ERR_INFO (undici closed the connection itself),
 *   UND_ERR_CLOSED / UND_ERR_DESTROYED (the pool was closed), UND_ERR_INVALID_ARG /
 *   UND_ERR_NOT_SUPPORTED (a header undici refuses): UC, as any unknown error.
 * Other HPE_* codes are llhttp's parser errors, as in Node: UPE; so is undici's HTTPParserError
 * without a code (a response that does not start as HTTP/1.1, Node's HPE_INVALID_CONSTANT).
 */
export const UNDICI_FLAGS: ReadonlyMap<string, "UPE" | "UR" | "UC"> = new Map([
  ["UND_ERR_SOCKET", "UR"],
  ["HPE_INVALID_EOF_STATE", "UR"],
  ["UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "UR"],
  ["UND_ERR_HEADERS_OVERFLOW", "UPE"],
  ["UND_ERR_REQ_CONTENT_LENGTH_MISMATCH", "UC"],
  ["UND_ERR_INFO", "UC"],
  ["UND_ERR_CLOSED", "UC"],
  ["UND_ERR_DESTROYED", "UC"],
  ["UND_ERR_INVALID_ARG", "UC"],
  ["UND_ERR_NOT_SUPPORTED", "UC"],
]);

/** Classifies an upstream error after the connection was up: reset vs closed vs malformed. */
export function classifyUpstreamError(e: Error & { code?: string }): "UPE" | "UR" | "UC" {
  const code = e.code ?? "";
  const undici = UNDICI_FLAGS.get(code);
  if (undici) return undici;
  if (code.startsWith("HPE_") || code === "ERR_HTTP2_PROTOCOL_ERROR" || e.name === "HTTPParserError") return "UPE";
  if (code === "ECONNRESET" || code === "ERR_HTTP2_STREAM_ERROR") return "UR";
  return "UC";
}
