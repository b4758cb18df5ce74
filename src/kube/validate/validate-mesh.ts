/**
 * Schemas of apps/v1 Deployment and the security.istio.io kinds, at envelope level
 * plus the spec's top-level shape. The routing kinds have their own files, in depth:
 * validate-gateway-api.ts (Gateway, HTTPRoute, GRPCRoute) and validate-istio-networking.ts
 * (VirtualService, DestinationRule), validate-serviceentry.ts (ServiceEntry, WorkloadEntry).
 *
 * security.istio.io kinds are validated in depth by the authorization translator (another
 * module); here their spec only has to be an object. See `extraSpecValidators` in validate.ts
 * for how that deeper check plugs in.
 */
import type { Problem, Schema } from "./validate-schema.js";
import { any, bool, int, isPlainObject, obj, req, str } from "./validate-schema.js";
import { labelSelector, objectMeta, templateMeta } from "./validate-meta.js";
import { podSpec } from "./validate-core.js";

const envelopeFields = { apiVersion: req(str()), kind: req(str()), metadata: req(objectMeta) };

/** Deployment: the template's labels must satisfy the selector's matchLabels (as the API server demands). */
function deploymentCheck(spec: Record<string, unknown>): Problem | undefined {
  const sel = isPlainObject(spec.selector) && isPlainObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  const tmeta = isPlainObject(spec.template) && isPlainObject(spec.template.metadata) ? spec.template.metadata : {};
  const tl = isPlainObject(tmeta.labels) ? tmeta.labels : {};
  for (const [k, v] of Object.entries(sel)) {
    if (tl[k] !== v)
      return { field: "template.metadata.labels", reason: `selector does not match template labels: needs ${k}=${String(v)}` };
  }
  if (Object.keys(sel).length === 0 && !(isPlainObject(spec.selector) && Array.isArray(spec.selector.matchExpressions))) {
    return { field: "selector", reason: "empty selector: it must select the template's labels" };
  }
  return undefined;
}

export const deploymentSpec: Schema = obj(
  {
    replicas: int({ min: 0 }),
    selector: req(labelSelector),
    template: req(obj({ metadata: templateMeta, spec: req(podSpec) })),
    strategy: any(),
    minReadySeconds: int({ min: 0 }),
    revisionHistoryLimit: int({ min: 0 }),
    paused: bool(),
    progressDeadlineSeconds: int({ min: 0 }),
  },
  { check: deploymentCheck },
);

const openSpec = obj({}, { open: true });

/**
 * AuthorizationPolicy and PeerAuthentication: only what names the object is checked here.
 * Refusing one of these whole would drop it, and a dropped ALLOW widens access to its targets;
 * so any deeper problem (spec, labels, annotations) is left to the policy translator, which
 * fails closed on it and names the field (controlplane/translate/authorization-policy*.ts).
 */
const securityPolicy = obj(
  { apiVersion: req(str()), kind: req(str()), metadata: req(obj({ name: str(), namespace: str() }, { open: true })) },
  { open: true },
);

export const meshSchemas: ReadonlyMap<string, Schema> = new Map<string, Schema>([
  ["apps/Deployment", obj({ ...envelopeFields, spec: req(deploymentSpec), status: any() })],
  // Deep validation of these three belongs to the authorization translator.
  ["security.istio.io/AuthorizationPolicy", securityPolicy],
  ["security.istio.io/PeerAuthentication", securityPolicy],
  ["security.istio.io/RequestAuthentication", obj({ ...envelopeFields, spec: openSpec, status: any() })],
  ["telemetry.istio.io/Telemetry", obj({ ...envelopeFields, spec: openSpec, status: any() })],
]);
