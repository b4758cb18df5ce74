/**
 * The mesh config of the local cluster, read where Istio keeps it: the ConfigMap `istio` in
 * `istio-system`, key `mesh` (MeshConfig YAML). Read here: `outboundTrafficPolicy.mode`
 * (ALLOW_ANY, the default, or REGISTRY_ONLY), given to every ztunnel; the whole text goes to
 * the control plane (`--mesh-config`, which reads extension providers and tracing). Pure; an
 * invalid value is an error naming the object and field.
 */
import { parse as parseYaml } from "yaml";
import { type Result, ok, err } from "../common/result.js";

export interface LocalMeshConfig {
  readonly outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** The MeshConfig YAML as given, for the control plane's --mesh-config (extension providers, tracing); absent: none. */
  readonly text?: string;
}

const rec = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export function meshConfigOf(objects: readonly Record<string, unknown>[]): Result<LocalMeshConfig> {
  const cm = objects.find(
    (o) => o.kind === "ConfigMap" && rec(o.metadata).name === "istio" && rec(o.metadata).namespace === "istio-system",
  );
  const text = rec(cm?.data).mesh;
  if (cm === undefined || text === undefined) return ok({ outboundTrafficPolicy: "ALLOW_ANY" });
  const where = "ConfigMap istio-system/istio: data.mesh";
  if (typeof text !== "string") return err(new Error(`${where}: must be a string of MeshConfig YAML`));
  let mesh: unknown;
  try {
    mesh = parseYaml(text);
  } catch (e) {
    return err(new Error(`${where}: not YAML: ${(e as Error).message}`));
  }
  const mode = rec(rec(mesh).outboundTrafficPolicy).mode ?? "ALLOW_ANY";
  if (mode !== "ALLOW_ANY" && mode !== "REGISTRY_ONLY")
    return err(new Error(`${where}: outboundTrafficPolicy.mode: ${JSON.stringify(mode)} is not ALLOW_ANY or REGISTRY_ONLY`));
  return ok({ outboundTrafficPolicy: mode, text });
}
