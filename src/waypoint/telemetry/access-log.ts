/**
 * One access log line per request, when the listener's HCM has `access_log` (Istio's default is
 * none: the waypoint builds no entry at all then, forward.ts). JSON: a structured line (pino's
 * format, component "waypoint.access") with the fields of Istio's default JSON format plus the
 * response code details, both principals and the authorization results; TEXT: Istio's default
 * text format (ISTIO_TEXT_FORMAT). `/dev/stdout` lines are batched into the root logger's writer;
 * another path is a file the lines are appended to, batched the same way. The sink is injectable
 * so tests can read the entries they caused.
 */
import { createWriteStream } from "node:fs";
import pino from "pino";
import { rootLogger } from "../../common/log.js";
import { STDOUT_PATH } from "../envoy/decode-access-log.js";
import type { AccessLogTarget } from "../envoy/types.js";

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

/** Writes one request's entry to the listener's access loggers (never called without one). */
export type AccessLogSink = (e: AccessLogEntry, to: readonly AccessLogTarget[]) => void;

/** Lines wait until this many characters collected (Envoy's file access log flushes at 64 KiB)... */
const FLUSH_CHARS = 64 * 1024;
/** ...or this long (Envoy's access_log_flush_interval default). */
const FLUSH_MS = 1000;

/**
 * Access log lines in the root logger's format (level, pid, ISO time, component) handed to the root logger's stdout writer in batches, so stdout keeps one
 * writer and whole lines. Writing each line as it came cost one write call per request, ~5% of
 * the waypoint's CPU under load; 4 KiB batches still cost ~5% (the write calls, one per ~6
 * lines), 64 KiB ones a sixteenth of the calls. Flushed on exit; a waypoint killed with SIGKILL loses up to a
 * second of lines, as Envoy would.
 */
class BatchedLines {
  private pending: string[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: { write(s: string): unknown; flushSync?(): void }) {
    process.once("exit", () => {
      this.flush();
      try {
        this.out.flushSync?.();
      } catch {
        /* stdout gone or not ready: nothing more to do at exit */
      }
    });
  }

  write(line: string): void {
    this.pending.push(line);
    this.size += line.length;
    if (this.size >= FLUSH_CHARS) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    this.size = 0;
    this.out.write(text);
  }
}

/** Where the root logger's lines go (its stdout writer), shared by the batched access log lines. */
function rootStream(): { write(s: string): unknown; flushSync?(): void } {
  return (rootLogger as unknown as Record<symbol, { write(s: string): unknown; flushSync?(): void }>)[pino.symbols.streamSym]!;
}

/**
 * The line pino writes for `log.info(entry, "access")` on a child logger (component
 * waypoint.access) of a logger with the root logger's options (level 30, ISO time, pid): the
 * same bytes, built with one JSON.stringify of the entry instead of pino's per-key walk (pino
 * itself stringifies objects with JSON.stringify, and its string quoting equals JSON's for the
 * well-formed strings an entry holds; access-log.test.ts compares the two). ~4% of the
 * waypoint's CPU under load went to pino's walk.
 */
export function accessLogLine(e: AccessLogEntry, pid: number, nowMs: number): string {
  const fields = JSON.stringify(e);
  return `{"level":30,"time":"${isoTime(nowMs)}","pid":${pid},"component":"waypoint.access"${fields.length > 2 ? `,${fields.slice(1, -1)}` : ""},"msg":"access"}\n`;
}

/** The last two times formatted (a request's start and its log time are usually two of a few milliseconds). */
const isoCache: [number, string, number, string] = [NaN, "", NaN, ""];

/** `new Date(ms).toISOString()`, remembered for the last two values of `ms`. */
export function isoTime(ms: number): string {
  if (ms === isoCache[0]) return isoCache[1];
  if (ms === isoCache[2]) return isoCache[3];
  const text = new Date(ms).toISOString();
  isoCache[2] = isoCache[0];
  isoCache[3] = isoCache[1];
  isoCache[0] = ms;
  isoCache[1] = text;
  return text;
}

const dash = (v: string | number | undefined): string => (v === undefined || v === "" ? "-" : String(v));

/**
 * Istio's default TEXT line (its EnvoyTextLogFormat, what `accessLogEncoding: TEXT` and the
 * `envoy` provider write):
 * `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 * %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
 * "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 * %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 * "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW%
 * %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
 * %REQUESTED_SERVER_NAME% %ROUTE_NAME%`. What weft does not track (termination details, transport
 * failure reason, X-Forwarded-For, upstream local address, SNI) is `-`, as Envoy writes an unset value.
 */
export function accessLogText(e: AccessLogEntry): string {
  return `[${e.start_time}] "${e.method} ${e.path} ${e.protocol}" ${e.response_code} ${dash(e.response_flags)} ${dash(e.response_code_details)} - "-" ${e.bytes_received} ${e.bytes_sent} ${e.duration} ${dash(e.upstream_service_time)} "-" "${dash(e.user_agent)}" "${dash(e.request_id)}" "${dash(e.authority)}" "${dash(e.upstream_host)}" ${dash(e.upstream_cluster)} - ${dash(e.downstream_local_address)} ${dash(e.downstream_remote_address)} - ${dash(e.route_name)}\n`;
}

/**
 * One batch per path: stdout shares the root logger's writer, a file is appended to. Configured
 * access logging writes whatever the log level (Envoy's access log does not follow its log level;
 * the config that enabled it is the switch).
 */
const writers = new Map<string, BatchedLines>();

function writerFor(path: string): BatchedLines {
  let w = writers.get(path);
  if (w) return w;
  if (path === STDOUT_PATH) w = new BatchedLines(rootStream());
  else {
    const file = createWriteStream(path, { flags: "a" });
    file.once("error", (e) => rootLogger.warn({ component: "waypoint.access", path, err: e.message }, "access log file unwritable"));
    w = new BatchedLines(file);
  }
  writers.set(path, w);
  return w;
}

const pid = process.pid;

export const pinoAccessLog: AccessLogSink = (e, to) => {
  for (const t of to) writerFor(t.path).write(t.encoding === "JSON" ? accessLogLine(e, pid, Date.now()) : accessLogText(e));
};
