/**
 * Validation at the edge: every object from any config source passes here before it may enter
 * the store. Checks the envelope (apiVersion, kind, metadata.name format, namespace present for
 * namespaced kinds and absent for cluster-scoped ones), then the kind's strict schema
 * (validate-core.ts, validate-mesh.ts, validate-gateway-api.ts, validate-istio-networking.ts, validate-serviceentry.ts,
 * validate-weft.ts), then any deeper spec validator registered for the kind
 * (the authorization translator plugs its own in through `extraSpecValidators`).
 *
 * Pure. Errors name the object (`Kind ns/name`), the field path and the reason. Kinds weft does
 * not know are accepted after the envelope check (a folder of ordinary manifests may hold
 * ConfigMaps and Secrets) and are never interpreted.
 */
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import type { KubeObject, Origin } from "../object.js";
import type { InvalidObject } from "../source.js";
import type { Problem, Schema } from "./validate-schema.js";
import { check, dns1035Label, dns1123Label, dns1123Subdomain, isPlainObject } from "./validate-schema.js";
import { coreSchemas } from "./validate-core.js";
import { meshSchemas } from "./validate-mesh.js";
import { gatewayApiSchemas } from "./validate-gateway-api.js";
import { istioNetworkingSchemas } from "./validate-istio-networking.js";
import { serviceEntrySchemas } from "./validate-serviceentry.js";
import { weftSchemas } from "./validate-weft.js";

/** Facts about a kind weft interprets: accepted versions, scope, name rule. */
export interface KindInfo {
  readonly group: string;
  readonly kind: string;
  readonly versions: readonly string[];
  readonly namespaced: boolean;
  readonly nameRule: (v: string) => string | undefined;
}

const k = (group: string, kind: string, versions: string[], namespaced = true, nameRule = dns1123Subdomain): KindInfo => ({
  group,
  kind,
  versions,
  namespaced,
  nameRule,
});

export const knownKinds: readonly KindInfo[] = [
  k("", "Namespace", ["v1"], false, dns1123Label),
  k("", "Node", ["v1"], false),
  k("", "Pod", ["v1"]),
  k("", "Service", ["v1"], true, dns1035Label),
  k("", "ServiceAccount", ["v1"]),
  k("discovery.k8s.io", "EndpointSlice", ["v1"]),
  k("apps", "Deployment", ["v1"]),
  k("security.istio.io", "AuthorizationPolicy", ["v1", "v1beta1"]),
  k("security.istio.io", "PeerAuthentication", ["v1", "v1beta1"]),
  k("security.istio.io", "RequestAuthentication", ["v1", "v1beta1"]),
  k("telemetry.istio.io", "Telemetry", ["v1", "v1alpha1"]),
  k("networking.istio.io", "DestinationRule", ["v1", "v1beta1", "v1alpha3"]),
  k("networking.istio.io", "ServiceEntry", ["v1", "v1beta1", "v1alpha3"]),
  k("networking.istio.io", "VirtualService", ["v1", "v1beta1", "v1alpha3"]),
  k("networking.istio.io", "WorkloadEntry", ["v1", "v1beta1", "v1alpha3"]),
  k("gateway.networking.k8s.io", "Gateway", ["v1", "v1beta1"]),
  k("gateway.networking.k8s.io", "HTTPRoute", ["v1", "v1beta1"]),
  k("gateway.networking.k8s.io", "GRPCRoute", ["v1", "v1alpha2"]),
  k("networking.weft.io", "LocalRateLimit", ["v1alpha1"]),
];

const kindIndex = new Map(knownKinds.map((i) => [`${i.group}/${i.kind}`, i]));

/**
 * Scope of common kinds weft does not interpret, keyed `group/Kind`, so a folder of ordinary
 * manifests gets kubectl's namespace defaulting and scope checks for them too.
 */
const otherKindScopes: ReadonlyMap<string, "namespaced" | "cluster"> = new Map([
  ...[
    "/ConfigMap",
    "/Secret",
    "/PersistentVolumeClaim",
    "/Endpoints",
    "/LimitRange",
    "/ResourceQuota",
    "apps/StatefulSet",
    "apps/DaemonSet",
    "apps/ReplicaSet",
    "batch/Job",
    "batch/CronJob",
    "networking.k8s.io/NetworkPolicy",
    "networking.k8s.io/Ingress",
    "policy/PodDisruptionBudget",
    "autoscaling/HorizontalPodAutoscaler",
    "rbac.authorization.k8s.io/Role",
    "rbac.authorization.k8s.io/RoleBinding",
    "networking.istio.io/Sidecar",
    "telemetry.istio.io/Telemetry",
    "gateway.networking.k8s.io/ReferenceGrant",
    "gateway.networking.k8s.io/TCPRoute",
    "gateway.networking.k8s.io/TLSRoute",
  ].map((k) => [k, "namespaced"] as const),
  ...[
    "/PersistentVolume",
    "storage.k8s.io/StorageClass",
    "rbac.authorization.k8s.io/ClusterRole",
    "rbac.authorization.k8s.io/ClusterRoleBinding",
    "apiextensions.k8s.io/CustomResourceDefinition",
    "gateway.networking.k8s.io/GatewayClass",
    "admissionregistration.k8s.io/MutatingWebhookConfiguration",
    "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
  ].map((k) => [k, "cluster"] as const),
]);

/** Whether objects of this kind live in a namespace; undefined for kinds weft knows nothing about. */
export function isNamespacedKind(apiVersion: string, kind: string): boolean | undefined {
  const info = kindInfo(apiVersion, kind);
  if (info) return info.namespaced;
  const other = otherKindScopes.get(`${groupOf(apiVersion)}/${kind}`);
  return other === undefined ? undefined : other === "namespaced";
}
const schemas = new Map<string, Schema>([
  ...coreSchemas,
  ...meshSchemas,
  ...gatewayApiSchemas,
  ...istioNetworkingSchemas,
  ...serviceEntrySchemas,
  ...weftSchemas,
]);

/** A deeper check of one kind's object (e.g. AuthorizationPolicy rules); paths are from the object root. */
export type SpecValidator = (object: KubeObject) => Problem | undefined;

export interface ValidateOptions {
  /** Keyed `group/Kind`, e.g. `security.istio.io/AuthorizationPolicy`. */
  readonly extraSpecValidators?: ReadonlyMap<string, SpecValidator>;
  /**
   * Reject fields the schemas do not know (`kubectl --validate=strict`); default true. The
   * Kubernetes source may turn it off: the API server has validated its objects already, and a
   * newer server can return fields weft's tables do not list yet. Types and values are still
   * checked.
   */
  readonly strict?: boolean;
}

export function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

/** `Kind ns/name` (or `Kind name` when cluster-scoped), from whatever could be read. */
export function objectLabel(o: unknown): string | undefined {
  if (!isPlainObject(o)) return undefined;
  const kind = typeof o.kind === "string" && o.kind !== "" ? o.kind : "?";
  const meta = isPlainObject(o.metadata) ? o.metadata : {};
  const name = typeof meta.name === "string" && meta.name !== "" ? meta.name : "?";
  const ns = typeof meta.namespace === "string" && meta.namespace !== "" ? `${meta.namespace}/` : "";
  if (kind === "?" && name === "?") return undefined;
  return `${kind} ${ns}${name}`;
}

/** The KindInfo for an object's apiVersion/kind, if weft interprets it. */
export function kindInfo(apiVersion: string, kind: string): KindInfo | undefined {
  return kindIndex.get(`${groupOf(apiVersion)}/${kind}`);
}

export function validateObject(o: unknown, origin: Origin, opts: ValidateOptions = {}): Result<KubeObject, InvalidObject> {
  const object = objectLabel(o);
  const fail = (field: string, reason: string) => err({ origin, ...(object ? { object } : {}), field, reason });
  if (!isPlainObject(o)) return fail("", "a config document must be an object");
  if (typeof o.apiVersion !== "string" || o.apiVersion === "") return fail("apiVersion", "required field is missing");
  if (typeof o.kind !== "string" || o.kind === "") return fail("kind", "required field is missing");
  if (!/^[A-Z][A-Za-z0-9]*$/.test(o.kind)) return fail("kind", `${JSON.stringify(o.kind)} is not a kind name`);
  if (!isPlainObject(o.metadata)) return fail("metadata", "required field is missing");
  const meta = o.metadata;
  if (typeof meta.name !== "string" || meta.name === "") return fail("metadata.name", "required field is missing");
  if (meta.namespace !== undefined && meta.namespace !== null && typeof meta.namespace !== "string")
    return fail("metadata.namespace", "expected string");
  const ns = typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : undefined;
  if (ns !== undefined) {
    const r = dns1123Label(ns);
    if (r) return fail("metadata.namespace", r);
  }

  const info = kindInfo(o.apiVersion, o.kind);
  if (!info) {
    const r = dns1123Subdomain(meta.name);
    if (r) return fail("metadata.name", r);
    const namespaced = isNamespacedKind(o.apiVersion, o.kind);
    if (namespaced === true && ns === undefined) return fail("metadata.namespace", `required: ${o.kind} is namespaced`);
    if (namespaced === false && ns !== undefined) return fail("metadata.namespace", `must not be set: ${o.kind} is cluster-scoped`);
    return ok(o as KubeObject);
  }
  const version = o.apiVersion.slice(o.apiVersion.indexOf("/") + 1);
  if (!info.versions.includes(version)) {
    return fail(
      "apiVersion",
      `unsupported version ${JSON.stringify(o.apiVersion)} of ${o.kind}: expected ${info.versions.map((v) => (info.group ? `${info.group}/${v}` : v)).join(" or ")}`,
    );
  }
  const nameProblem = info.nameRule(meta.name);
  if (nameProblem) return fail("metadata.name", nameProblem);
  if (info.namespaced && ns === undefined) return fail("metadata.namespace", `required: ${o.kind} is namespaced`);
  if (!info.namespaced && ns !== undefined) return fail("metadata.namespace", `must not be set: ${o.kind} is cluster-scoped`);

  const key = `${info.group}/${info.kind}`;
  const schema = schemas.get(key);
  if (schema) {
    const p = check(schema, o, "", opts.strict === false);
    if (p) return fail(p.field, p.reason);
  }
  const extra = opts.extraSpecValidators?.get(key);
  if (extra) {
    const p = extra(o as KubeObject);
    if (p) return fail(p.field, p.reason);
  }
  return ok(o as KubeObject);
}

/** `validateObject` with fixed options, in the ObjectValidator shape config sources take. */
export function objectValidator(opts: ValidateOptions = {}): (o: KubeObject, origin: Origin) => Result<KubeObject, InvalidObject> {
  return (o, origin) => validateObject(o, origin, opts);
}
