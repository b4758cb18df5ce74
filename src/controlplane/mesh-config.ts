/**
 * Istio's MeshConfig, the part weft reads: what istiod takes from `--meshConfig` (the `mesh`
 * key of the `istio` ConfigMap), here `weft controlplane --mesh-config FILE`. Pure: YAML text
 * in, a typed value or errors naming the field out; unknown fields are ignored (they are Istio's,
 * not weft's), wrong types are errors (a mesh config that cannot be read is not applied at all).
 *
 * Read: `extensionProviders[]` with `opentelemetry` (service, port, `http` for OTLP/HTTP),
 * `defaultProviders.tracing`, `enableTracing` (default true), and
 * `defaultConfig.tracing.sampling` (percent, default 1, Istio's default); `envoyExtAuthzHttp` and
 * `envoyExtAuthzGrpc` providers (mesh-config-ext-authz.ts; a bad one is kept with its errors).
 * Access logging: `accessLogFile` (empty, Istio's default: no access log), `accessLogEncoding`
 * (TEXT, Istio's default, or JSON), `accessLogFormat` (kept to be reported: weft writes Istio's
 * default format), `defaultProviders.accessLogging`, and `envoyFileAccessLog` providers (`path`,
 * `logFormat.text` / `logFormat.labels`); Istio's built-in provider `envoy` (`/dev/stdout`, TEXT)
 * is there unless a provider of that name replaces it.
 */
import { parse } from "yaml";
import { type Result, ok, err } from "../common/result.js";
import { parseDuration } from "./translate/routes/names.js";
import { type ExtAuthzProvider, parseExtAuthzProvider } from "./mesh-config-ext-authz.js";

export interface OtelProvider {
  readonly name: string;
  readonly service: string;
  readonly port: number;
  /** OTLP over HTTP (`POST path`) instead of gRPC, as Istio's `opentelemetry.http`. */
  readonly http?: { readonly path: string; readonly timeoutMs: number; readonly headers: Readonly<Record<string, string>> };
}

/** An `envoyFileAccessLog` extension provider: where and how access lines are written. */
export interface FileAccessLogProvider {
  readonly name: string;
  readonly path: string;
  /** `logFormat.labels` -> JSON; `logFormat.text` or none -> TEXT (Istio's rule). */
  readonly encoding: "TEXT" | "JSON";
  /** A custom `logFormat.text` or non-empty `labels` was given (weft writes Istio's default fields instead; reported). */
  readonly customFormat: boolean;
}

/** Istio's built-in `envoy` provider (its default MeshConfig's extensionProviders): stdout, default TEXT format. */
export const ENVOY_ACCESS_LOG_PROVIDER: FileAccessLogProvider = Object.freeze({
  name: "envoy",
  path: "/dev/stdout",
  encoding: "TEXT",
  customFormat: false,
});

export interface MeshConfig {
  readonly extensionProviders: readonly OtelProvider[];
  /** External authorization providers (CUSTOM AuthorizationPolicy). */
  readonly extAuthzProviders: readonly ExtAuthzProvider[];
  readonly defaultTracingProviders: readonly string[];
  readonly enableTracing: boolean;
  /** Percent of new traces sampled when no Telemetry resource says (defaultConfig.tracing.sampling). */
  readonly defaultSamplingPercent: number;
  /** `envoyFileAccessLog` providers, `envoy` (built in or replaced) included. */
  readonly accessLogProviders: readonly FileAccessLogProvider[];
  readonly defaultAccessLogProviders: readonly string[];
  /** The legacy mesh-wide access log (no Telemetry, no default provider): "" is off (Istio's default). */
  readonly accessLogFile: string;
  readonly accessLogEncoding: "TEXT" | "JSON";
  /** `accessLogFormat` ("" for Istio's default format). */
  readonly accessLogFormat: string;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({
  extensionProviders: [],
  extAuthzProviders: [],
  defaultTracingProviders: [],
  enableTracing: true,
  defaultSamplingPercent: 1,
  accessLogProviders: [ENVOY_ACCESS_LOG_PROVIDER],
  defaultAccessLogProviders: [],
  accessLogFile: "",
  accessLogEncoding: "TEXT",
  accessLogFormat: "",
});

export type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A MeshConfig duration (Istio's protobuf Duration text, e.g. `2s`) in milliseconds. */
function durationMs(v: unknown): number | undefined {
  const d = typeof v === "string" ? parseDuration(v.trim()) : undefined;
  return d ? d.seconds * 1000 + d.nanos / 1e6 : undefined;
}

export function parseMeshConfig(text: string, file: string): Result<MeshConfig> {
  const doc = meshConfigDoc(text, file);
  if (!doc.ok) return doc;
  return doc.value === undefined ? ok(DEFAULT_MESH_CONFIG) : meshConfigOf(doc.value, file);
}

/** The YAML mapping of a mesh config text; undefined for an empty text. */
export function meshConfigDoc(text: string, file: string): Result<Obj | undefined> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return err(new Error(`mesh config ${file}: not YAML: ${(e as Error).message.split("\n")[0]}`));
  }
  if (doc === null || doc === undefined) return ok(undefined);
  if (!isObj(doc)) return err(new Error(`mesh config ${file}: want a mapping of MeshConfig fields`));
  return ok(doc);
}

/** The MeshConfig a YAML mapping says, or its problems naming each field. */
export function meshConfigOf(doc: Obj, file: string): Result<MeshConfig> {
  const problems: string[] = [];
  const bad = (field: string, why: string) => problems.push(`${field}: ${why}`);
  const providers: OtelProvider[] = [];
  const extAuthz: ExtAuthzProvider[] = [];
  const fileLogs: FileAccessLogProvider[] = [];
  const seen = new Set<string>();
  const list = doc.extensionProviders ?? [];
  if (!Array.isArray(list)) bad("extensionProviders", "want a list");
  else
    list.forEach((p, i) => {
      const at = `extensionProviders[${i}]`;
      if (!isObj(p) || typeof p.name !== "string" || p.name === "") return void bad(`${at}.name`, "want a non-empty string");
      if (seen.has(p.name)) return void bad(`${at}.name`, `${JSON.stringify(p.name)} is given twice`);
      seen.add(p.name);
      const ea = parseExtAuthzProvider(p.name, p, at);
      if (ea) return void extAuthz.push(ea);
      if (p.envoyFileAccessLog !== undefined) {
        const f = fileAccessLogProvider(p.name, p.envoyFileAccessLog, `${at}.envoyFileAccessLog`, bad);
        if (f) fileLogs.push(f);
        return;
      }
      if (p.opentelemetry === undefined) return; // other provider kinds (zipkin, ...) are not weft's concern here
      const o = p.opentelemetry;
      if (!isObj(o)) return void bad(`${at}.opentelemetry`, "want a mapping");
      if (typeof o.service !== "string" || o.service === "") return void bad(`${at}.opentelemetry.service`, "want a hostname");
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        return void bad(`${at}.opentelemetry.port`, `${JSON.stringify(o.port)} is not a port`);
      let http: OtelProvider["http"];
      if (o.http !== undefined) {
        if (!isObj(o.http)) return void bad(`${at}.opentelemetry.http`, "want a mapping");
        const path = o.http.path ?? "/v1/traces";
        if (typeof path !== "string" || !path.startsWith("/"))
          return void bad(`${at}.opentelemetry.http.path`, "want a path starting with /");
        const timeoutMs = o.http.timeout === undefined ? 1000 : durationMs(o.http.timeout);
        if (timeoutMs === undefined)
          return void bad(`${at}.opentelemetry.http.timeout`, `${JSON.stringify(o.http.timeout)} is not a duration`);
        const headers: Record<string, string> = {};
        for (const [j, h] of (Array.isArray(o.http.headers) ? o.http.headers : []).entries())
          if (isObj(h) && typeof h.name === "string" && typeof h.value === "string") headers[h.name] = h.value;
          else return void bad(`${at}.opentelemetry.http.headers[${j}]`, "want { name, value }");
        http = { path, timeoutMs, headers };
      }
      providers.push({ name: p.name, service: o.service, port, ...(http ? { http } : {}) });
    });
  const dp = doc.defaultProviders;
  const names = (field: "tracing" | "accessLogging"): string[] => {
    if (!isObj(dp) || dp[field] === undefined) return [];
    const v = dp[field];
    if (Array.isArray(v) && v.every((n) => typeof n === "string")) return v as string[];
    bad(`defaultProviders.${field}`, "want a list of provider names");
    return [];
  };
  if (dp !== undefined && !isObj(dp)) bad("defaultProviders", "want a mapping");
  const defaults = names("tracing");
  const defaultAccessLogging = names("accessLogging");
  const accessLogFile = doc.accessLogFile ?? "";
  if (typeof accessLogFile !== "string" || (accessLogFile !== "" && !accessLogFile.startsWith("/")))
    bad("accessLogFile", `${JSON.stringify(doc.accessLogFile)} is not an absolute path (e.g. /dev/stdout)`);
  const accessLogEncoding = doc.accessLogEncoding ?? "TEXT";
  if (accessLogEncoding !== "TEXT" && accessLogEncoding !== "JSON")
    bad("accessLogEncoding", `${JSON.stringify(doc.accessLogEncoding)} is not TEXT or JSON`);
  const accessLogFormat = doc.accessLogFormat ?? "";
  if (typeof accessLogFormat !== "string") bad("accessLogFormat", "want a format string");
  const enableTracing = doc.enableTracing ?? true;
  if (typeof enableTracing !== "boolean") bad("enableTracing", "want true or false");
  let sampling = 1;
  const tr = isObj(doc.defaultConfig) && isObj(doc.defaultConfig.tracing) ? doc.defaultConfig.tracing : undefined;
  if (tr?.sampling !== undefined) {
    sampling = Number(tr.sampling);
    if (!Number.isFinite(sampling) || sampling < 0 || sampling > 100)
      bad("defaultConfig.tracing.sampling", `${JSON.stringify(tr.sampling)} is not a percentage in [0, 100]`);
  }
  if (problems.length) return err(new Error(`mesh config ${file}: ${problems.join("; ")}`));
  return ok(
    Object.freeze({
      extensionProviders: providers,
      extAuthzProviders: extAuthz,
      defaultTracingProviders: defaults,
      enableTracing: enableTracing as boolean,
      defaultSamplingPercent: sampling,
      accessLogProviders: fileLogs.some((f) => f.name === ENVOY_ACCESS_LOG_PROVIDER.name)
        ? fileLogs
        : [...fileLogs, ENVOY_ACCESS_LOG_PROVIDER],
      defaultAccessLogProviders: defaultAccessLogging,
      accessLogFile: accessLogFile as string,
      accessLogEncoding: accessLogEncoding as "TEXT" | "JSON",
      accessLogFormat: accessLogFormat as string,
    }),
  );
}

/** An `envoyFileAccessLog` provider: `path` (absolute), `logFormat` with `text` or `labels` (JSON). */
function fileAccessLogProvider(
  name: string,
  v: unknown,
  at: string,
  bad: (field: string, why: string) => void,
): FileAccessLogProvider | undefined {
  if (!isObj(v)) return void bad(at, "want a mapping");
  const path = v.path ?? "/dev/stdout";
  if (typeof path !== "string" || !path.startsWith("/")) return void bad(`${at}.path`, `${JSON.stringify(v.path)} is not an absolute path`);
  const f = v.logFormat;
  if (f !== undefined && !isObj(f)) return void bad(`${at}.logFormat`, "want a mapping");
  if (f?.text !== undefined && typeof f.text !== "string") return void bad(`${at}.logFormat.text`, "want a format string");
  if (f?.labels !== undefined && !isObj(f.labels)) return void bad(`${at}.logFormat.labels`, "want a mapping of label to format");
  if (f?.text !== undefined && f.labels !== undefined) return void bad(`${at}.logFormat`, "text and labels exclude each other");
  const encoding = f?.labels !== undefined ? "JSON" : "TEXT";
  const customFormat = (typeof f?.text === "string" && f.text !== "") || (isObj(f?.labels) && Object.keys(f.labels).length > 0);
  return { name, path, encoding, customFormat };
}
