/**
 * The folder source end to end: real files in a temp folder, FileSource -> ConfigStore ->
 * MeshModel, with changes picked up by the watcher (and the periodic rescan where stated).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSource } from "../../src/kube/folder/file-source.js";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { MeshModel } from "../../src/controlplane/model/mesh.js";
import { translateConfig } from "../../src/controlplane/translate/translate-config.js";
import { objectValidator } from "../../src/kube/validate/validate.js";

const nsYaml = (name: string, labels = "") =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n${labels ? `  labels:\n${labels}` : ""}`;
const saYaml = (name: string, ns = "shop", extra = "") =>
  `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n${extra}`;
const podYaml = (name: string, ip: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels: {app: web}
spec:
  nodeName: node-a
  serviceAccountName: web
  containers:
  - name: app
    image: web
    ports: [{name: http, containerPort: 8080}]
status:
  phase: Running
  podIP: ${ip}
  conditions: [{type: Ready, status: "True"}]
`;

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Rig {
  dir: string;
  store: ConfigStore;
  source: FileSource;
}

const rigs: Rig[] = [];
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "weft-config-"));
});
after(async () => {
  for (const r of rigs) await r.source.stop();
  await rm(root, { recursive: true, force: true });
});

async function rig(name: string, files: Record<string, string>, rescanMs = 0): Promise<Rig> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) {
    await mkdir(join(dir, f, ".."), { recursive: true });
    await writeFile(join(dir, f), text);
  }
  const store = new ConfigStore(objectValidator());
  const source = new FileSource({ dir, debounceMs: 20, rescanMs });
  await source.start(store);
  const r = { dir, store, source };
  rigs.push(r);
  return r;
}

const has = (s: ConfigStore, key: string) => s.get(key) !== undefined;

void describe("FileSource", () => {
  void it("loads nested folders, multi-document files and Lists, then reports synced", async () => {
    const list = JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [JSON.parse(JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "from-list", namespace: "shop" } }))],
    });
    const r = await rig("load", {
      "a.yaml": `${nsYaml("shop")}---\n${saYaml("web")}`,
      "sub/deeper/b.yml": saYaml("db"),
      "c.json": list,
      "notes.txt": "ignored",
      ".hidden.yaml": saYaml("hidden"),
    });
    assert.ok(r.store.isSynced);
    assert.deepEqual([...r.store.list("/ServiceAccount").map((o) => o.metadata.name)].sort(), ["db", "from-list", "web"]);
    assert.ok(has(r.store, "/Namespace//shop"));
    assert.deepEqual(r.store.invalid(), []);
  });

  void it("follows added, modified and deleted files, and editors' rename-over writes", async () => {
    const r = await rig("edit", { "a.yaml": saYaml("web") });
    await mkdir(join(r.dir, "new"), { recursive: true });
    await writeFile(join(r.dir, "new", "b.yaml"), saYaml("db"));
    await until("added file", () => has(r.store, "/ServiceAccount/shop/db"));
    await writeFile(join(r.dir, "a.yaml"), saYaml("web", "shop", "automountServiceAccountToken: false\n"));
    await until("modified file", () => r.store.get("/ServiceAccount/shop/web")?.automountServiceAccountToken === false);
    // An editor: write a temp file, then rename it over the original.
    await writeFile(join(r.dir, ".a.yaml.tmp"), saYaml("web2"));
    await rename(join(r.dir, ".a.yaml.tmp"), join(r.dir, "a.yaml"));
    await until("renamed-over file", () => has(r.store, "/ServiceAccount/shop/web2") && !has(r.store, "/ServiceAccount/shop/web"));
    await unlink(join(r.dir, "new", "b.yaml"));
    await until("deleted file", () => !has(r.store, "/ServiceAccount/shop/db"));
    // An object removed from a file that stays.
    await writeFile(join(r.dir, "a.yaml"), nsYaml("shop"));
    await until("object removed from a file", () => !has(r.store, "/ServiceAccount/shop/web2") && has(r.store, "/Namespace//shop"));
  });

  void it("keeps a broken file's previous objects in force and says where it broke, until fixed", async () => {
    const r = await rig("broken", { "a.yaml": `${nsYaml("shop")}---\n${saYaml("web")}` });
    await writeFile(join(r.dir, "a.yaml"), `${nsYaml("shop")}---\n${saYaml("web")}  labels: [unclosed\n`);
    await until("a parse problem", () => r.store.invalid().length > 0);
    const p = r.store.invalid()[0]!;
    assert.match(p.origin.source, new RegExp(`^${join(r.dir, "a.yaml").replace(/[.]/g, "\\.")}:\\d+ \\(document 1\\)$`));
    assert.match(p.reason, /invalid YAML/);
    assert.ok(has(r.store, "/ServiceAccount/shop/web") && has(r.store, "/Namespace//shop"), "previous objects stay");
    await writeFile(join(r.dir, "a.yaml"), nsYaml("shop"));
    await until("fixed", () => !has(r.store, "/ServiceAccount/shop/web"));
    assert.deepEqual(r.store.invalid(), []);
  });

  void it("keeps the previous version of an object whose new version is invalid", async () => {
    const r = await rig("invalid", { "a.yaml": saYaml("web", "shop", "automountServiceAccountToken: true\n") });
    await writeFile(join(r.dir, "a.yaml"), saYaml("web", "shop", "automountServiceAccountToken: true\nsecretz: []\n"));
    await until("a validation problem", () => r.store.invalid().length > 0);
    const p = r.store.invalid()[0]!;
    assert.deepEqual([p.object, p.field], ["ServiceAccount shop/web", "secretz"]);
    assert.match(p.reason, /unknown field; the previous version stays in force/);
    assert.equal(r.store.get("/ServiceAccount/shop/web")?.automountServiceAccountToken, true);
  });

  void it("keeps the first of two conflicting definitions by path, and hands over when it goes", async () => {
    const r = await rig("conflict", {
      "a.yaml": saYaml("web", "shop", "automountServiceAccountToken: true\n"),
      "b.yaml": saYaml("web", "shop", "automountServiceAccountToken: false\n"),
    });
    assert.equal(r.store.get("/ServiceAccount/shop/web")?.automountServiceAccountToken, true);
    assert.equal(r.store.invalid().length, 1);
    assert.match(r.store.invalid()[0]!.origin.source, /b\.yaml:1/);
    assert.match(r.store.invalid()[0]!.reason, /conflicting definition: also defined at .*a\.yaml:1/);
    await unlink(join(r.dir, "a.yaml"));
    await until("b's version in force", () => r.store.get("/ServiceAccount/shop/web")?.automountServiceAccountToken === false);
    await until("conflict resolved", () => r.store.invalid().length === 0);
  });

  void it("picks changes up through the periodic rescan alone", async () => {
    const r = await rig("rescan", {}, 100);
    // Close the watchers behind the source's back (it still counts them as open) to prove the
    // periodic rescan alone finds changes.
    const watchers = (r.source as unknown as { watchers: Map<string, { close(): void }> }).watchers;
    for (const w of watchers.values()) w.close();
    await writeFile(join(r.dir, "a.yaml"), saYaml("web"));
    await until("rescan found the file", () => has(r.store, "/ServiceAccount/shop/web"));
  });

  void it("refuses to start on a missing folder", async () => {
    const s = new FileSource({ dir: join(root, "does-not-exist") });
    await assert.rejects(s.start(new ConfigStore()), /config folder .*does-not-exist: ENOENT/);
  });
});

void describe("folder -> store -> mesh model", () => {
  void it("turns a pod added to the folder into a workload, and removes it with the file", async () => {
    const r = await rig("mesh", { "ns.yaml": nsYaml("shop", "    istio.io/dataplane-mode: ambient\n") });
    const mesh = new MeshModel(r.store, translateConfig());
    mesh.start();
    await writeFile(join(r.dir, "pod.yaml"), podYaml("web-1", "10.1.0.5"));
    await until("workload", () => mesh.workloads.has("Kubernetes//Pod/shop/web-1"));
    const w = mesh.workloads.get("Kubernetes//Pod/shop/web-1")!;
    assert.deepEqual([w.tunnelProtocol, w.serviceAccount, w.addresses[0], w.status], ["HBONE", "web", "10.1.0.5", "HEALTHY"]);
    assert.deepEqual(
      mesh.podsOnNode("node-a").map((i) => i.serviceAccount),
      ["web"],
    );
    await unlink(join(r.dir, "pod.yaml"));
    await until("workload removed", () => !mesh.workloads.has("Kubernetes//Pod/shop/web-1"));
    assert.deepEqual(mesh.podsOnNode("node-a"), []);
    mesh.stop();
  });
});

void describe("ordinary manifests", () => {
  void it("load: Deployment, Service, ConfigMap and a namespace without a namespace field", async () => {
    const manifests = `apiVersion: v1
kind: Namespace
metadata:
  name: bookinfo
  labels:
    istio.io/dataplane-mode: ambient
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reviews
  namespace: bookinfo
---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: bookinfo
  labels: {app: reviews, service: reviews}
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
  namespace: bookinfo
  labels: {app: reviews, version: v1}
spec:
  replicas: 1
  selector:
    matchLabels: {app: reviews, version: v1}
  template:
    metadata:
      labels: {app: reviews, version: v1}
    spec:
      serviceAccountName: reviews
      containers:
      - name: reviews
        image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
        imagePullPolicy: IfNotPresent
        env:
        - name: LOG_DIR
          value: "/tmp/logs"
        ports:
        - containerPort: 9080
        volumeMounts:
        - name: tmp
          mountPath: /tmp
        securityContext:
          runAsUser: 1000
      volumes:
      - name: tmp
        emptyDir: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
`;
    const r = await rig("manifests", { "bookinfo.yaml": manifests });
    assert.deepEqual(r.store.invalid(), []);
    assert.ok(has(r.store, "apps/Deployment/bookinfo/reviews-v1"));
    assert.ok(has(r.store, "/Service/bookinfo/reviews"));
    assert.ok(has(r.store, "/ConfigMap/default/settings"), "kubectl's default namespace");
  });
});
