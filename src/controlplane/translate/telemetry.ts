/**
 * Tracing for a waypoint, from Istio's Telemetry API and the mesh config, pure. Levels, least
 * to most specific, as Istio resolves them: a Telemetry in the root namespace without
 * selector/targetRefs (mesh-wide), one in the waypoint's namespace without them
 * (namespace-wide), one whose `targetRefs` names the waypoint's Gateway. A more specific level
 * overrides the fields it sets (`providers`, `randomSamplingPercentage`,
 * `disableSpanReporting`); at one level the oldest Telemetry applies and the others are
 * reported. With no Telemetry at all, `defaultProviders.tracing` of the mesh config applies
 * with `defaultConfig.tracing.sampling`. One provider per proxy (Istio's rule): the first.
 * Telemetry with a `selector` is for sidecars and ztunnel-less proxies: not a waypoint's.
 *
 * Access logging (accessLoggingFor) uses the same levels with Istio's merge of `accessLogging`
 * entries (providers inherited down the levels, `disabled` per provider), then
 * `defaultProviders.accessLogging`, then the legacy `accessLogFile`; Istio's default is none.
 */
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import type { MeshConfig, OtelProvider } from "../mesh-config.js";
import type { Problem } from "./routes/context.js";
import { objectOrder } from "./routes/names.js";

export const TELEMETRY_KIND = "telemetry.istio.io/Telemetry";

export interface WaypointTracing {
  readonly provider: OtelProvider;
  readonly samplingPercent: number;
  /** The service name spans carry: `<gateway>.<namespace>`, Istio's for a waypoint. */
  readonly serviceName: string;
}

interface Level {
  providers?: string[];
  sampling?: number;
  disabled?: boolean;
}

const name = (o: KubeObject) => `Telemetry ${o.metadata.namespace ?? ""}/${o.metadata.name}`;

function targets(o: KubeObject, gateway: string): "none" | "this" | "other" {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const refs = Array.isArray(spec.targetRefs) ? spec.targetRefs : spec.targetRef !== undefined ? [spec.targetRef] : [];
  if (refs.length === 0) return "none";
  return refs.some(
    (r) =>
      isPlainObject(r) &&
      r.kind === "Gateway" &&
      (r.group ?? "gateway.networking.k8s.io") === "gateway.networking.k8s.io" &&
      r.name === gateway,
  )
    ? "this"
    : "other";
}

function levelOf(o: KubeObject, problems: Problem[]): Level | undefined {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const list = spec.tracing;
  if (list === undefined) return undefined;
  if (!Array.isArray(list) || !isPlainObject(list[0])) {
    problems.push({ object: name(o), field: "spec.tracing", reason: "want a list of tracing settings" });
    return undefined;
  }
  const t = list[0];
  const out: Level = {};
  if (t.providers !== undefined) {
    if (!Array.isArray(t.providers) || t.providers.some((p) => !isPlainObject(p) || typeof p.name !== "string"))
      problems.push({ object: name(o), field: "spec.tracing[0].providers", reason: "want a list of { name }" });
    else out.providers = t.providers.map((p) => String((p as { name: string }).name));
  }
  if (t.randomSamplingPercentage !== undefined) {
    const v = Number(t.randomSamplingPercentage);
    if (!Number.isFinite(v) || v < 0 || v > 100)
      problems.push({
        object: name(o),
        field: "spec.tracing[0].randomSamplingPercentage",
        reason: `${JSON.stringify(t.randomSamplingPercentage)} is not in [0, 100]`,
      });
    else out.sampling = v;
  }
  if (t.disableSpanReporting !== undefined) out.disabled = t.disableSpanReporting === true;
  if (list.length > 1)
    problems.push({ object: name(o), field: "spec.tracing[1]", reason: "only the first tracing entry applies (one provider per proxy)" });
  return out;
}

/**
 * The Telemetry objects that apply to a waypoint, least specific first: mesh-wide (root
 * namespace), namespace-wide, then one whose targetRefs names the waypoint's Gateway; at one
 * level the oldest applies and the others are reported (once, for every Telemetry field).
 */
export function telemetryChain(
  telemetries: readonly KubeObject[],
  rootNamespace: string,
  waypoint: { readonly namespace: string; readonly name: string },
  problems: Problem[],
): KubeObject[] {
  const pick = (ns: string, match: (o: KubeObject) => boolean): KubeObject | undefined => {
    const at = telemetries.filter((o) => o.metadata.namespace === ns && match(o)).sort(objectOrder);
    for (const o of at.slice(1))
      problems.push({ object: name(o), field: "metadata", reason: `ignored: ${name(at[0]!)} is older and applies at the same level` });
    return at[0];
  };
  const noSelector = (o: KubeObject) => !(isPlainObject(o.spec) && o.spec.selector !== undefined);
  return [
    pick(rootNamespace, (o) => noSelector(o) && targets(o, "") === "none"),
    waypoint.namespace === rootNamespace ? undefined : pick(waypoint.namespace, (o) => noSelector(o) && targets(o, "") === "none"),
    pick(waypoint.namespace, (o) => targets(o, waypoint.name) === "this"),
  ].filter((o): o is KubeObject => o !== undefined);
}

export function tracingFor(
  mesh: MeshConfig,
  chain: readonly KubeObject[],
  waypoint: { readonly namespace: string; readonly name: string },
  problems: Problem[],
): WaypointTracing | undefined {
  let providers: string[] | undefined;
  let sampling: number | undefined;
  let disabled = false;
  let any = false;
  for (const o of chain) {
    const l = levelOf(o, problems);
    if (!l) continue;
    any = true;
    if (l.providers) providers = l.providers;
    if (l.sampling !== undefined) sampling = l.sampling;
    if (l.disabled !== undefined) disabled = l.disabled;
  }
  if (!any) {
    if (!mesh.enableTracing) return undefined;
    providers = [...mesh.defaultTracingProviders];
  }
  providers ??= [...mesh.defaultTracingProviders];
  if (disabled || providers.length === 0) return undefined;
  const wanted = providers[0]!;
  const provider = mesh.extensionProviders.find((p) => p.name === wanted);
  if (!provider) {
    problems.push({
      object: chain.length ? name(chain[chain.length - 1]!) : "mesh config",
      field: chain.length ? "spec.tracing[0].providers[0].name" : "defaultProviders.tracing[0]",
      reason: `no opentelemetry extensionProvider ${JSON.stringify(wanted)} in the mesh config: waypoint ${waypoint.namespace}/${waypoint.name} sends no spans`,
    });
    return undefined;
  }
  return { provider, samplingPercent: sampling ?? mesh.defaultSamplingPercent, serviceName: `${waypoint.name}.${waypoint.namespace}` };
}

/** One resolved access logger of a waypoint: an `envoyFileAccessLog` provider, or the mesh's legacy `accessLogFile`. */
export interface WaypointAccessLog {
  /** The provider's name, or `accessLogFile` for the legacy mesh setting. */
  readonly provider: string;
  readonly path: string;
  readonly encoding: "TEXT" | "JSON";
}

/** One `spec.accessLogging[i]` entry that applies to a waypoint (server side). */
interface LogEntry {
  readonly providers?: readonly string[];
  readonly disabled?: boolean;
}

const MODES = new Set(["CLIENT", "SERVER", "CLIENT_AND_SERVER"]);

/**
 * A Telemetry's `accessLogging` entries that apply to a waypoint, or undefined when it has none;
 * "invalid" (each bad field reported) when any entry cannot be read as Istio means it. A
 * waypoint's listeners are server side: `match.mode: CLIENT` entries do not apply (Istio builds
 * them as inbound). `filter` (a CEL expression) is not supported: the waypoint would log requests
 * it excludes.
 */
function logEntriesOf(o: KubeObject, problems: Problem[]): LogEntry[] | "invalid" | undefined {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const list = spec.accessLogging;
  if (list === undefined) return undefined;
  let invalid = false;
  const bad = (field: string, reason: string): undefined => {
    invalid = true;
    problems.push({ object: name(o), field: `spec.accessLogging${field}`, reason });
    return undefined;
  };
  if (!Array.isArray(list)) return bad("", "want a list of access logging settings") ?? "invalid";
  const out: LogEntry[] = [];
  list.forEach((e, i) => {
    const at = `[${i}]`;
    if (!isPlainObject(e)) return bad(at, "want a mapping");
    const entry: { providers?: string[]; disabled?: boolean } = {};
    if (e.providers !== undefined) {
      if (!Array.isArray(e.providers) || e.providers.some((p) => !isPlainObject(p) || typeof p.name !== "string" || p.name === ""))
        return bad(`${at}.providers`, "want a list of { name }");
      if (e.providers.length) entry.providers = e.providers.map((p) => String((p as { name: string }).name));
    }
    if (e.disabled !== undefined) {
      if (typeof e.disabled !== "boolean") return bad(`${at}.disabled`, "want true or false");
      entry.disabled = e.disabled;
    }
    if (e.filter !== undefined)
      return bad(`${at}.filter`, "not supported by weft (a CEL filter): the waypoint would log requests the filter excludes");
    const mode = isPlainObject(e.match) ? (e.match.mode ?? "CLIENT_AND_SERVER") : "CLIENT_AND_SERVER";
    if (e.match !== undefined && (!isPlainObject(e.match) || typeof mode !== "string" || !MODES.has(mode)))
      return bad(`${at}.match.mode`, `${JSON.stringify(mode)} is not CLIENT, SERVER or CLIENT_AND_SERVER`);
    if (mode !== "CLIENT") out.push(entry);
  });
  return invalid ? "invalid" : out;
}

/**
 * Access logging for a waypoint, as Istio resolves it: the Telemetry levels of `chain`, least
 * specific first, each `accessLogging` entry setting its providers (or inheriting the previous
 * entry's, `defaultProviders.accessLogging` first) on (or off with `disabled: true`); the
 * providers named last are the ones in scope. With no `accessLogging` in any level:
 * `defaultProviders.accessLogging`, or else the mesh's legacy `accessLogFile` (Istio's default:
 * empty, no access log). An unknown provider is reported and logs nothing.
 *
 * A Telemetry whose `accessLogging` cannot be read keeps its last good entries (`lastGood`, by
 * object) or, never seen good, disables the providers in scope: an invalid Telemetry never turns
 * logging on where it was off, nor drops what applied before it went bad.
 */
export function accessLoggingFor(
  mesh: MeshConfig,
  chain: readonly KubeObject[],
  problems: Problem[],
  lastGood: Map<string, readonly LogEntry[]> = new Map(),
): WaypointAccessLog[] {
  let inherited: readonly string[] = mesh.defaultAccessLogProviders;
  let inScope = inherited;
  const on = new Map<string, boolean>();
  let any = false;
  let last: KubeObject | undefined;
  for (const o of chain) {
    let entries = logEntriesOf(o, problems);
    const key = `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    if (entries === "invalid") {
      const kept = lastGood.get(key);
      problems.push({
        object: name(o),
        field: "spec.accessLogging",
        reason: kept ? "keeps its last good access logging" : "no access logging from it until it is fixed (never seen valid)",
      });
      entries = kept ? [...kept] : [{ disabled: true }];
    } else if (entries) lastGood.set(key, entries);
    if (!entries) continue;
    any = true;
    last = o;
    for (const e of entries) {
      const names = e.providers ?? inherited;
      inherited = names;
      if (e.providers) inScope = names;
      for (const p of names) on.set(p, e.disabled !== true);
    }
  }
  if (!any) {
    if (mesh.defaultAccessLogProviders.length === 0) return mesh.accessLogFile ? [legacyAccessLog(mesh, problems)] : [];
    for (const p of inScope) on.set(p, true);
  }
  const out: WaypointAccessLog[] = [];
  for (const p of new Set(inScope)) {
    if (on.get(p) !== true) continue;
    const provider = mesh.accessLogProviders.find((x) => x.name === p);
    if (!provider) {
      problems.push({
        object: last ? name(last) : "mesh config",
        field: last ? "spec.accessLogging[].providers[].name" : "defaultProviders.accessLogging",
        reason: `no envoyFileAccessLog extensionProvider ${JSON.stringify(p)} in the mesh config (weft's waypoint writes file access logs only): it logs nothing`,
      });
      continue;
    }
    if (provider.customFormat)
      problems.push({
        object: "mesh config",
        field: `extensionProviders[${JSON.stringify(p)}].envoyFileAccessLog.logFormat`,
        reason: `weft writes Istio's default ${provider.encoding} format, not a custom one`,
      });
    out.push({ provider: p, path: provider.path, encoding: provider.encoding });
  }
  return out;
}

/** The mesh's `accessLogFile` in `accessLogEncoding`; a custom `accessLogFormat` is reported (weft writes Istio's default format). */
function legacyAccessLog(mesh: MeshConfig, problems: Problem[]): WaypointAccessLog {
  if (mesh.accessLogFormat)
    problems.push({
      object: "mesh config",
      field: "accessLogFormat",
      reason: `weft writes Istio's default ${mesh.accessLogEncoding} format`,
    });
  return { provider: "accessLogFile", path: mesh.accessLogFile, encoding: mesh.accessLogEncoding };
}
