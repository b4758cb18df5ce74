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

/** Classifies an upstream error after the connection was up: reset vs closed vs malformed. */
export function classifyUpstreamError(e: Error & { code?: string }): "UPE" | "UR" | "UC" {
  const code = e.code ?? "";
  if (code === "HPE_INVALID_CONSTANT" || code.startsWith("HPE_") || code === "ERR_HTTP2_PROTOCOL_ERROR") return "UPE";
  if (code === "ECONNRESET" || code === "ERR_HTTP2_STREAM_ERROR") return "UR";
  return "UC";
}
