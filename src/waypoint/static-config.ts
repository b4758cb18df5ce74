/**
 * The static waypoint config file (`--config FILE`): Envoy's bootstrap `static_resources`, in
 * YAML or JSON, exactly as an Envoy bootstrap would hold them:
 *
 * ```yaml
 * static_resources:
 *   listeners: [ Listener ... ]     # HCM route tables inline (route_config) or from route_configs
 *   clusters: [ Cluster ... ]       # STATIC with an inline load_assignment, or EDS fed by endpoints
 *   route_configs: [ RouteConfiguration ... ]   # weft extension: RDS-named tables, statically
 *   endpoints: [ ClusterLoadAssignment ... ]    # weft extension: EDS sets, statically
 * ```
 * Every resource is encoded to Envoy's protobuf and decoded by the same decoder as xDS, so a
 * static file and a control plane are held to the same rules; the whole file is rejected on
 * any error (each naming its resource and field), never half-applied. Pure.
 */
import { parseConfigText } from "../common/config-text.js";
import { type Result, ok, err } from "../common/result.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../common/xds/envoy-proto.js";
import type { ResourceError } from "../common/xds/resource-error.js";
import type { Named } from "../proxy/xds/subscription.js";
import type { EnvoyResource } from "./envoy/decode.js";
import { decodeFromJson } from "./envoy/from-json.js";
import type { EnvoyKind } from "./envoy/store.js";

export interface StaticWaypointConfig {
  readonly resources: ReadonlyMap<EnvoyKind, readonly Named<EnvoyResource>[]>;
}

const SECTIONS = [
  ["listeners", LISTENER_TYPE_URL, "listener"],
  ["route_configs", ROUTE_TYPE_URL, "route"],
  ["clusters", CLUSTER_TYPE_URL, "cluster"],
  ["endpoints", ENDPOINT_TYPE_URL, "endpoints"],
] as const;

export function parseStaticWaypointConfig(text: string): Result<StaticWaypointConfig, ResourceError[]> {
  let doc: unknown;
  try {
    doc = parseConfigText(text);
  } catch (e) {
    return err([{ resource: "<file>", field: "", reason: `not YAML/JSON: ${(e as Error).message}` }]);
  }
  return staticResources(doc);
}

export function staticResources(doc: unknown): Result<StaticWaypointConfig, ResourceError[]> {
  const root = (doc ?? {}) as Record<string, unknown>;
  const errors: ResourceError[] = [];
  for (const k of Object.keys(root))
    if (k !== "static_resources") errors.push({ resource: "<file>", field: k, reason: "unknown field (only static_resources)" });
  const sr = (root.static_resources ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(sr))
    if (!SECTIONS.some(([s]) => s === k))
      errors.push({
        resource: "<file>",
        field: `static_resources.${k}`,
        reason: "unknown field (listeners, clusters, route_configs, endpoints)",
      });
  const resources = new Map<EnvoyKind, Named<EnvoyResource>[]>();
  for (const [section, typeUrl, kind] of SECTIONS) {
    const list = sr[section] ?? [];
    if (!Array.isArray(list)) {
      errors.push({ resource: "<file>", field: `static_resources.${section}`, reason: "must be a list" });
      continue;
    }
    const out: Named<EnvoyResource>[] = [];
    const names = new Set<string>();
    list.forEach((item, i) => {
      const path = `static_resources.${section}[${i}]`;
      const r = decodeFromJson(typeUrl, item, path);
      if (!r.ok) return errors.push(...r.error.map((e) => ({ ...e, field: e.field.startsWith(path) ? e.field : `${path}.${e.field}` })));
      if (names.has(r.value.name)) return errors.push({ resource: r.value.name, field: path, reason: "duplicate name" });
      names.add(r.value.name);
      out.push(r.value);
    });
    resources.set(kind, out);
  }
  return errors.length ? err(errors) : ok({ resources });
}
