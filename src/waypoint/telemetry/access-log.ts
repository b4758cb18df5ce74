/**
 * One structured access log line per request (pino, component "waypoint.access"), with the
 * fields of Envoy's default access log format plus the route name, cluster, response flags and
 * both principals. The sink is injectable so tests can read the entries they caused.
 */
import { logger } from "../../common/log.js";

export interface AccessLogEntry {
  readonly start_time: string;
  readonly method: string;
  /** The path the client sent (Envoy's X-ENVOY-ORIGINAL-PATH?:PATH). */
  readonly path: string;
  /** The path sent upstream, after rewrites (absent for local answers). */
  readonly upstream_path?: string;
  readonly protocol: string;
  readonly response_code: number;
  readonly response_flags: string;
  readonly response_code_details: string;
  readonly bytes_received: number;
  readonly bytes_sent: number;
  readonly duration: number;
  readonly upstream_service_time?: number;
  readonly user_agent?: string;
  readonly request_id: string;
  readonly authority: string;
  readonly upstream_host?: string;
  readonly upstream_cluster?: string;
  readonly route_name: string;
  readonly downstream_local_address: string;
  readonly downstream_remote_address: string;
  readonly downstream_peer_principal: string;
  readonly upstream_peer_principal?: string;
  readonly grpc_status?: string;
  readonly traceparent?: string;
  /** Authorization (http/authz-step.ts): the RBAC policy that admitted or denied, dry-run and AUDIT results, JWT principals. */
  readonly authz_policy?: string;
  readonly authz_dry_run?: readonly { readonly result: "allowed" | "denied"; readonly policy?: string }[];
  readonly authz_audit?: readonly string[];
  readonly request_principal?: string;
  /** ext_authz (CUSTOM) checks: `allowed`, `denied`, `error`, `failed_open`, with the CUSTOM rule that triggered each. */
  readonly ext_authz?: readonly { readonly result: string; readonly policy?: string }[];
}

export type AccessLogSink = (e: AccessLogEntry) => void;

const log = logger("waypoint.access");

export const pinoAccessLog: AccessLogSink = (e) => log.info(e, "access");
