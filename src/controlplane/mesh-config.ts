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

export interface MeshConfig {
  readonly extensionProviders: readonly OtelProvider[];
  /** External authorization providers (CUSTOM AuthorizationPolicy). */
  readonly extAuthzProviders: readonly ExtAuthzProvider[];
  readonly defaultTracingProviders: readonly string[];
  readonly enableTracing: boolean;
  /** Percent of new traces sampled when no Telemetry resource says (defaultConfig.tracing.sampling). */
  readonly defaultSamplingPercent: number;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = Object.freeze({
  extensionProviders: [],
  extAuthzProviders: [],
  defaultTracingProviders: [],
  enableTracing: true,
  defaultSamplingPercent: 1,
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
  let defaults: string[] = [];
  if (dp !== undefined) {
    if (!isObj(dp)) bad("defaultProviders", "want a mapping");
    else if (dp.tracing !== undefined) {
      if (!Array.isArray(dp.tracing) || dp.tracing.some((n) => typeof n !== "string"))
        bad("defaultProviders.tracing", "want a list of provider names");
      else defaults = dp.tracing as string[];
    }
  }
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
    }),
  );
}
