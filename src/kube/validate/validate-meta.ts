/**
 * Schemas shared by every kind: ObjectMeta, label selectors, object references. Pure data.
 */
import type { Schema } from "./validate-schema.js";
import { any, arr, bool, int, labelValue, map, obj, qualifiedName, req, str } from "./validate-schema.js";

export const labels: Schema = map(str({ check: labelValue }), qualifiedName);
export const annotations: Schema = map(str(), qualifiedName);

export const ownerReference: Schema = obj({
  apiVersion: req(str()),
  kind: req(str()),
  name: req(str()),
  uid: str(),
  controller: bool(),
  blockOwnerDeletion: bool(),
});

/** metadata.name's format differs per kind and is checked by the envelope, not here. */
export const objectMeta: Schema = obj({
  name: str(),
  generateName: str(),
  namespace: str(),
  uid: str(),
  resourceVersion: str(),
  generation: int({ min: 0 }),
  labels,
  annotations,
  ownerReferences: arr(ownerReference),
  creationTimestamp: any(),
  deletionTimestamp: any(),
  deletionGracePeriodSeconds: int(),
  finalizers: arr(str()),
  managedFields: any(),
  selfLink: str(),
});

/** metav1.LabelSelector. */
export const labelSelector: Schema = obj({
  matchLabels: labels,
  matchExpressions: arr(
    obj({
      key: req(str({ check: qualifiedName })),
      operator: req(str({ enum: ["In", "NotIn", "Exists", "DoesNotExist"] })),
      values: arr(str()),
    }),
  ),
});

/** Istio's WorkloadSelector (`selector: { matchLabels }`). */
export const workloadSelector: Schema = obj({ matchLabels: labels });

/** Pod template metadata: a subset of ObjectMeta. */
export const templateMeta: Schema = obj({
  name: str(),
  namespace: str(),
  labels,
  annotations,
  creationTimestamp: any(),
});
