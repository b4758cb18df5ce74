/** The committed deploy/*.yaml are exactly the rendering of src/cli/install/ (no drift), and the set is well-formed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { deployFiles, repoRoot } from "./render.js";
import { renderManifests, defaultManifestOptions } from "./manifests.js";
import { renderCrds } from "./crds.js";
import { PART_OF_LABEL, refOf } from "./manifest.js";
import { defaultKinds } from "../../kube/client/kube-kinds.js";

void test("deploy/weft.yaml and deploy/crds.yaml match the generator (run `npm run manifests` after changing src/cli/install/)", () => {
  for (const f of deployFiles()) {
    const committed = readFileSync(path.join(repoRoot(), f.file), "utf8");
    assert.equal(committed, f.text, `${f.file} drifted from src/cli/install/: run npm run build && npm run manifests`);
    const docs = parseAllDocuments(committed);
    assert.ok(docs.length > 0 && docs.every((d) => d.errors.length === 0), `${f.file} parses as YAML`);
  }
});

void test("every object is labelled part-of=weft, named once, and namespaced objects live in the install namespace", () => {
  const all = [...renderManifests(), ...renderCrds()];
  const refs = all.map((o) => `${o.apiVersion} ${refOf(o)}`);
  assert.equal(new Set(refs).size, refs.length, "no object twice");
  for (const o of all) assert.equal(o.metadata.labels?.[PART_OF_LABEL], "weft", refOf(o));
  const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"]);
  for (const o of all) assert.equal(o.metadata.namespace, clusterScoped.has(o.kind) ? undefined : "istio-system", refOf(o));
});

void test("the control plane may read every watched kind; the CRD set covers every CRD kind weft watches, and the GatewayClass it writes", () => {
  const cr = renderManifests().find((o) => o.kind === "ClusterRole" && o.metadata.name === "weft-controlplane")!;
  const rules = cr.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  for (const k of defaultKinds) {
    const ok = rules.some((r) => r.apiGroups.includes(k.group) && r.resources.includes(k.resource) && r.verbs.includes("watch"));
    assert.ok(ok, `watch ${k.resource}.${k.group || "core"}`);
  }
  const crds = renderCrds();
  assert.deepEqual(
    crds.map((c) => c.metadata.name),
    [...defaultKinds.filter((k) => k.optional).map((k) => `${k.resource}.${k.group}`), "gatewayclasses.gateway.networking.k8s.io"],
  );
  const scopes = crds.map((c) => `${c.metadata.name} ${(c.spec as { scope: string }).scope}`);
  assert.deepEqual(
    scopes.filter((x) => x.endsWith(" Cluster")),
    ["gatewayclasses.gateway.networking.k8s.io Cluster"],
  );
  // The waypoint deployer's writes (controlplane/gateway/controller.ts): the class, waypoint objects, status.
  const may = (group: string, resource: string, verb: string): boolean =>
    rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
  for (const [group, resource, verb] of [
    ["gateway.networking.k8s.io", "gatewayclasses", "create"],
    ["gateway.networking.k8s.io", "gatewayclasses/status", "patch"],
    ["gateway.networking.k8s.io", "httproutes/status", "patch"],
    ["", "serviceaccounts", "patch"],
    ["", "configmaps", "patch"],
    ["apps", "deployments", "patch"],
  ] as const)
    assert.ok(may(group, resource, verb), `${verb} ${resource}.${group || "core"}`);
});

void test("options reach the objects: image, namespace, CNI dirs, backend, and the serving SANs follow the namespace", () => {
  const o = {
    ...defaultManifestOptions(),
    namespace: "mesh",
    image: "reg.example/weft:9",
    cniConfDir: "/etc/k3s/cni",
    captureBackend: "nftables" as const,
  };
  const objs = renderManifests(o);
  const text = JSON.stringify(objs);
  assert.ok(!text.includes("istio-system"), "no object left in istio-system");
  assert.ok(!text.includes("weft.local/weft"), "every container uses the given image");
  const cp = objs.find((x) => x.kind === "Deployment")!;
  assert.match(JSON.stringify(cp), /--serving-dns-names=istiod\.mesh\.svc,istiod\.mesh\.svc\.cluster\.local,istiod\.mesh"/);
  assert.match(JSON.stringify(cp), /"--waypoint-image=reg\.example\/weft:9"/, "waypoints run the given image too");
  const cni = objs.find((x) => x.kind === "DaemonSet" && x.metadata.name === "weft-cni")!;
  assert.match(JSON.stringify(cni), /--cni-conf-dir=\/etc\/k3s\/cni/);
  assert.match(JSON.stringify(cni), /--backend=nftables/);
  assert.match(JSON.stringify(cni), /"path":"\/etc\/k3s\/cni"/);
});
