/**
 * The control plane's waypoint translation of a set of Kubernetes/Istio objects, for
 * integration tests: validated into a ConfigStore (every object must be valid), the mesh model
 * started, and the WaypointTranslator run once.
 */
import assert from "node:assert/strict";
import type { KubeObject } from "../../src/kube/object.js";
import { objectValidator } from "../../src/kube/validate/validate.js";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { MeshModel } from "../../src/controlplane/model/mesh.js";
import { translateConfig } from "../../src/controlplane/translate/translate-config.js";
import { WaypointTranslator, type WaypointTranslation } from "../../src/controlplane/translate/routes/waypoint-resources.js";

export function translateWaypoints(objects: readonly KubeObject[]): { t: WaypointTranslation; mesh: MeshModel; store: ConfigStore } {
  const validate = objectValidator();
  const store = new ConfigStore((o, origin) => validate(o, origin));
  store.apply(objects.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  assert.deepEqual(store.invalid(), []);
  const cfg = translateConfig();
  const mesh = new MeshModel(store, cfg);
  mesh.start();
  return { t: new WaypointTranslator().translate({ cfg, store, services: mesh.services, workloads: mesh.workloads }), mesh, store };
}
