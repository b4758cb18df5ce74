/**
 * Helpers for the kube integration tests: a ConfigSink that records what it is told and
 * mirrors it into a map (the store's view), polling, and admin-side object changes through
 * the real API.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../src/kube/object.js";
import type { ConfigEvent, ConfigSink, InvalidObject } from "../../src/kube/source.js";
import type { KubeApi } from "../../src/kube/client/kube-api.js";

/** Records batches and keeps the resulting state, like the config store would. */
export class RecordingSink implements ConfigSink {
  readonly state = new Map<string, KubeObject>();
  readonly log: string[] = [];
  readonly invalid: InvalidObject[] = [];
  batches = 0;
  syncedCalls = 0;
  /** Number of objects in the state when synced() was called. */
  stateAtSync = -1;

  apply(events: readonly ConfigEvent[]): void {
    assert.equal(this.syncedCalls <= 1, true);
    this.batches++;
    for (const e of events) {
      if (e.type === "upsert") {
        const key = keyOf(e.object);
        this.state.set(key, e.object);
        const terminating =
          e.object.metadata && (e.object.metadata as { deletionTimestamp?: string }).deletionTimestamp ? " terminating" : "";
        this.log.push(`+${key}@${labelsOf(e.object)}${terminating}`);
      } else {
        this.state.delete(e.key);
        this.log.push(`-${e.key}`);
      }
    }
  }
  onInvalid(problem: InvalidObject): void {
    this.invalid.push(problem);
  }
  synced(): void {
    this.syncedCalls++;
    this.stateAtSync = this.state.size;
  }
  /** Log lines about one key, in order. */
  history(key: string): string[] {
    return this.log.filter((l) => l.slice(1).startsWith(`${key}@`) || l.slice(1) === key);
  }
}

function keyOf(o: KubeObject): string {
  const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
  return `${group}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

function labelsOf(o: KubeObject): string {
  const l = o.metadata.labels ?? {};
  return Object.keys(l)
    .sort()
    .map((k) => `${k}=${l[k]}`)
    .join(",");
}

export async function waitUntil(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function collection(apiVersion: string, resource: string, namespace?: string): string {
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${resource}` : `${base}/${resource}`;
}

export interface Ref {
  readonly apiVersion: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name: string;
}

/** Creates an object; fails the test on any error. Returns the created object. */
export async function create(c: KubeApi, ref: Omit<Ref, "name">, body: Record<string, unknown>): Promise<KubeObject> {
  const r = await c.request<KubeObject>("POST", collection(ref.apiVersion, ref.resource, ref.namespace), body);
  if (!r.ok) assert.fail(`create ${ref.resource}: ${r.error.message}`);
  return r.value;
}

export async function patch(c: KubeApi, ref: Ref, mergePatch: Record<string, unknown>): Promise<KubeObject> {
  const r = await c.request<KubeObject>("PATCH", `${collection(ref.apiVersion, ref.resource, ref.namespace)}/${ref.name}`, mergePatch);
  if (!r.ok) assert.fail(`patch ${ref.resource} ${ref.name}: ${r.error.message}`);
  return r.value;
}

export async function remove(c: KubeApi, ref: Ref): Promise<void> {
  const r = await c.request<unknown>("DELETE", `${collection(ref.apiVersion, ref.resource, ref.namespace)}/${ref.name}`, {
    gracePeriodSeconds: 0,
  });
  if (!r.ok) assert.fail(`delete ${ref.resource} ${ref.name}: ${r.error.message}`);
}

export async function list(c: KubeApi, apiVersion: string, resource: string): Promise<KubeObject[]> {
  const r = await c.request<{ items: KubeObject[] }>("GET", collection(apiVersion, resource));
  if (!r.ok) assert.fail(`list ${resource}: ${r.error.message}`);
  return r.value.items;
}

export const pod = (
  ns: string,
  name: string,
  extra: { labels?: Record<string, string>; nodeName?: string; serviceAccountName?: string } = {},
) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, ...(extra.labels ? { labels: extra.labels } : {}) },
  spec: {
    containers: [{ name: "app", image: "registry.invalid/app:1" }],
    ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
    ...(extra.serviceAccountName ? { serviceAccountName: extra.serviceAccountName } : {}),
  },
});

export const service = (ns: string, name: string, port = 80) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec: { selector: { app: name }, ports: [{ name: "http", port, targetPort: 8080 }] },
});

/** Applies every CRD in test/kube/crds and waits until each is Established. */
export async function applyCrds(c: KubeApi): Promise<string[]> {
  const dir = path.resolve(__dirname, "../../../test/kube/crds");
  const names: string[] = [];
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, f), "utf8"))) {
      const crd = doc.toJS() as { metadata: { name: string } };
      await create(c, { apiVersion: "apiextensions.k8s.io/v1", resource: "customresourcedefinitions" }, crd);
      names.push(crd.metadata.name);
    }
  }
  await waitUntil("CRDs established", async () => {
    const all = await list(c, "apiextensions.k8s.io/v1", "customresourcedefinitions");
    const established = all.filter((crd) =>
      ((crd.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []).some(
        (x) => x.type === "Established" && x.status === "True",
      ),
    );
    return names.every((n) => established.some((e) => e.metadata.name === n));
  });
  return names;
}
