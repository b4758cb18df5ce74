import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type ModeFacts,
  type ModeInput,
  type PodSummary,
  pickControlPlanePod,
  pickZtunnelPods,
  selectorQuery,
  targetMode,
} from "./kube-target-select.js";

const facts = (over: Partial<ModeFacts> & { local?: string[]; files?: string[] } = {}): ModeFacts => ({
  env: over.env ?? { HOME: "/home/u" },
  defaultDir: "/run/weft-local",
  localClusterIn: (d) => (over.local ?? []).includes(d),
  fileExists: (f) => (over.files ?? []).includes(f),
});

void test("targetMode: the documented rule, in order", () => {
  const cases: Array<[string, ModeInput, ModeFacts, unknown]> = [
    ["an address wins", { address: "127.0.0.1:15014" }, facts({ local: ["/run/weft-local"] }), { kind: "address" }],
    ["an address wins over --dir", { address: "127.0.0.1:15014", dir: "/d" }, facts(), { kind: "address" }],
    ["--kubeconfig", { kubeconfig: "/k" }, facts({ local: ["/run/weft-local"] }), { kind: "kube", kubeconfig: "/k" }],
    [
      "--context alone: kubectl's kubeconfig",
      { context: "prod" },
      facts({ env: { KUBECONFIG: "/a:/b" } }),
      { kind: "kube", kubeconfig: "/a", context: "prod" },
    ],
    ["--dir", { dir: "/s" }, facts({ files: ["/home/u/.kube/config"] }), { kind: "local", dir: "/s" }],
    [
      "WEFT_LOCAL_DIR",
      {},
      facts({ env: { WEFT_LOCAL_DIR: "/e", HOME: "/home/u" }, files: ["/home/u/.kube/config"] }),
      { kind: "local", dir: "/e" },
    ],
    [
      "a local cluster runs: local, even with a kubeconfig",
      {},
      facts({ local: ["/run/weft-local"], files: ["/home/u/.kube/config"] }),
      { kind: "local", dir: "/run/weft-local" },
    ],
    [
      "no local cluster, ~/.kube/config exists",
      {},
      facts({ files: ["/home/u/.kube/config"] }),
      { kind: "kube", kubeconfig: "/home/u/.kube/config" },
    ],
    ["no local cluster, $KUBECONFIG exists", {}, facts({ env: { KUBECONFIG: "/k" }, files: ["/k"] }), { kind: "kube", kubeconfig: "/k" }],
    ["neither: local (its absence is the error)", {}, facts(), { kind: "local", dir: "/run/weft-local" }],
  ];
  for (const [name, input, f, want] of cases) {
    const r = targetMode(input, f);
    assert.ok(r.ok, name);
    assert.deepEqual(r.value, want, name);
  }
});

void test("targetMode: two kinds of target at once are refused", () => {
  for (const input of [
    { address: "h:1", kubeconfig: "/k" },
    { kubeconfig: "/k", dir: "/d" },
    { context: "c", dir: "/d" },
  ]) {
    const r = targetMode(input, facts());
    assert.ok(!r.ok, JSON.stringify(input));
    assert.match(r.error.message, /exclu/);
  }
});

void test("selectorQuery: matchLabels and matchExpressions as a labelSelector", () => {
  const r = selectorQuery(
    {
      matchLabels: { app: "istiod", "istio.io/rev": "default" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["a", "b"] },
        { key: "x", operator: "NotIn", values: ["c"] },
        { key: "y", operator: "Exists" },
        { key: "z", operator: "DoesNotExist" },
      ],
    },
    "Service istio-system/istiod",
  );
  assert.deepEqual(r, { ok: true, value: "app=istiod,istio.io/rev=default,tier in (a,b),x notin (c),y,!z" });
  const empty = selectorQuery({}, "Service istio-system/istiod");
  assert.ok(!empty.ok);
  assert.equal(empty.error.message, "Service istio-system/istiod has no selector");
  const bad = selectorQuery({ matchExpressions: [{ key: "a", operator: "Gt" }] }, "DaemonSet istio-system/ztunnel");
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /^DaemonSet istio-system\/ztunnel: selector operator "Gt"/);
});

const pod = (
  name: string,
  o: { node?: string; ready?: boolean; phase?: string; deleting?: boolean; created?: string } = {},
): PodSummary => ({
  metadata: {
    name,
    creationTimestamp: o.created ?? "2026-01-01T00:00:00Z",
    ...(o.deleting ? { deletionTimestamp: "2026-01-02T00:00:00Z" } : {}),
  },
  spec: { nodeName: o.node ?? "n1" },
  status: { phase: o.phase ?? "Running", conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }] },
});

void test("pickControlPlanePod: a Running pod, Ready first, then the newest", () => {
  const r = pickControlPlanePod("istio-system/istiod", "app=istiod", [
    pod("old", { created: "2026-01-01T00:00:00Z" }),
    pod("unready", { ready: false, created: "2026-03-01T00:00:00Z" }),
    pod("new", { created: "2026-02-01T00:00:00Z" }),
    pod("gone", { deleting: true, created: "2026-04-01T00:00:00Z" }),
    pod("pending", { phase: "Pending", created: "2026-05-01T00:00:00Z" }),
  ]);
  assert.ok(r.ok);
  assert.equal(r.value.metadata.name, "new");
  const unready = pickControlPlanePod("istio-system/istiod", "app=istiod", [pod("u", { ready: false })]);
  assert.ok(unready.ok, "an unready but Running pod is still asked (its /debug/adsz says why)");
  const none = pickControlPlanePod("istio-system/istiod", "app=istiod", [pod("p", { phase: "Pending" })]);
  assert.ok(!none.ok);
  assert.equal(none.error.message, "Service istio-system/istiod: no Running pod selected by app=istiod (1 pods in all)");
});

void test("pickZtunnelPods: one per node, sorted by node; --node picks one or names the nodes", () => {
  const pods = [
    pod("z-b", { node: "n2" }),
    pod("z-a-old", { node: "n1", created: "2026-01-01T00:00:00Z" }),
    pod("z-a-new", { node: "n1", created: "2026-02-01T00:00:00Z" }),
    pod("z-c", { node: "n3", deleting: true }),
  ];
  const all = pickZtunnelPods("istio-system/ztunnel", "app=ztunnel", pods);
  assert.ok(all.ok);
  assert.deepEqual(
    all.value.map((p) => p.metadata.name),
    ["z-a-new", "z-b"],
  );
  const one = pickZtunnelPods("istio-system/ztunnel", "app=ztunnel", pods, "n2");
  assert.ok(one.ok);
  assert.deepEqual(
    one.value.map((p) => p.metadata.name),
    ["z-b"],
  );
  const missing = pickZtunnelPods("istio-system/ztunnel", "app=ztunnel", pods, "n3");
  assert.ok(!missing.ok);
  assert.equal(missing.error.message, 'DaemonSet istio-system/ztunnel: no Running ztunnel pod on node "n3" (nodes: n1, n2)');
  const empty = pickZtunnelPods("istio-system/ztunnel", "app=ztunnel", []);
  assert.ok(!empty.ok);
  assert.equal(empty.error.message, "DaemonSet istio-system/ztunnel: no Running pod selected by app=ztunnel (0 pods in all)");
});
