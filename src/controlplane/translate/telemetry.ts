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

export function tracingFor(
  mesh: MeshConfig,
  telemetries: readonly KubeObject[],
  rootNamespace: string,
  waypoint: { readonly namespace: string; readonly name: string },
  problems: Problem[],
): WaypointTracing | undefined {
  const pick = (ns: string, match: (o: KubeObject) => boolean): KubeObject | undefined => {
    const at = telemetries.filter((o) => o.metadata.namespace === ns && match(o)).sort(objectOrder);
    for (const o of at.slice(1))
      problems.push({ object: name(o), field: "metadata", reason: `ignored: ${name(at[0]!)} is older and applies at the same level` });
    return at[0];
  };
  const noSelector = (o: KubeObject) => !(isPlainObject(o.spec) && o.spec.selector !== undefined);
  const chain = [
    pick(rootNamespace, (o) => noSelector(o) && targets(o, "") === "none"),
    waypoint.namespace === rootNamespace ? undefined : pick(waypoint.namespace, (o) => noSelector(o) && targets(o, "") === "none"),
    pick(waypoint.namespace, (o) => targets(o, waypoint.name) === "this"),
  ].filter((o): o is KubeObject => o !== undefined);
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
