/**
 * A mesh config made of layers, as istiod makes it with SHARED_MESH_CONFIG: Istio's defaults,
 * then the shared ConfigMap's `mesh`, then the revision's own source (the `--mesh-config` file or
 * the `istio[-<rev>]` ConfigMap), each applied over the one before (istiod's
 * `getConfigurationSources` + `mesh.ApplyMeshConfig`, pilot/pkg/bootstrap/mesh.go and
 * pkg/config/mesh/mesh.go). Istio's rules for a layer over what is below it:
 * - a field the layer sets replaces the one below (lists too: `defaultProviders.tracing`);
 * - `extensionProviders` are merged by name: a provider of the same name is replaced, others added;
 * - `defaultConfig` (ProxyConfig) and `defaultProviders` are merged field by field;
 * - `trustDomainAliases` are the union.
 * Each layer must be valid alone (its errors name its source), so a bad shared layer never hides
 * behind a good revision one. Pure.
 */
import { type Result, ok } from "../common/result.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig, type Obj, meshConfigDoc, meshConfigOf } from "./mesh-config.js";

export interface MeshLayer {
  /** The layer's text; undefined: its source holds no mesh config (contributes nothing). */
  readonly text: string | undefined;
  /** Its source, for messages (`ConfigMap istio-system/shared key mesh`). */
  readonly where: string;
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Field-by-field merge of mappings (ProxyConfig's merge); anything else in `over` replaces. */
function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

/** Pure: `over` applied over `base` by Istio's ApplyMeshConfig rules (the module header). */
export function applyMeshDoc(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base, ...over };
  for (const k of ["defaultConfig", "defaultProviders"])
    if (isObj(base[k]) && isObj(over[k])) out[k] = deepMerge(base[k] as Obj, over[k] as Obj);
  if (Array.isArray(base.extensionProviders) && Array.isArray(over.extensionProviders)) {
    const merged = [...(base.extensionProviders as unknown[])];
    for (const p of over.extensionProviders as unknown[]) {
      const name = isObj(p) ? p.name : undefined;
      const at = merged.findIndex((e) => isObj(e) && name !== undefined && e.name === name);
      if (at >= 0) merged[at] = p;
      else merged.push(p);
    }
    out.extensionProviders = merged;
  }
  if (Array.isArray(base.trustDomainAliases) && Array.isArray(over.trustDomainAliases))
    out.trustDomainAliases = [...new Set([...(over.trustDomainAliases as unknown[]), ...(base.trustDomainAliases as unknown[])])].sort();
  return out;
}

/** The mesh config of the layers, lowest first; the first invalid layer's error if any. */
export function layeredMeshConfig(layers: readonly MeshLayer[]): Result<MeshConfig> {
  let merged: Obj | undefined;
  const from: string[] = [];
  for (const l of layers) {
    if (l.text === undefined) continue;
    const doc = meshConfigDoc(l.text, l.where);
    if (!doc.ok) return doc;
    if (doc.value === undefined) continue;
    const alone = meshConfigOf(doc.value, l.where);
    if (!alone.ok) return alone;
    merged = merged ? applyMeshDoc(merged, doc.value) : doc.value;
    from.push(l.where);
  }
  if (!merged) return ok(DEFAULT_MESH_CONFIG);
  return meshConfigOf(merged, [...from].reverse().join(" over "));
}
