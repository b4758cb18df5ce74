import { test } from "node:test";
import assert from "node:assert/strict";
import { type Capture, type PodFacts, decide, plan } from "./enrollment.js";

const cni = { containerId: "c", netns: "/run/netns/p", hostInterface: "veth1", ips: ["198.19.200.5"] };
const pod = (o: Partial<PodFacts> = {}): PodFacts => ({
  key: "demo/web",
  namespace: "demo",
  name: "web",
  cni,
  object: { labels: {}, annotations: {}, nodeName: "node-0" },
  ...o,
});
const ambient = { "istio.io/dataplane-mode": "ambient" };

test("decide: namespace label, pod labels and sidecars as Istio's CNI agent decides", () => {
  const cases: [string, PodFacts, Record<string, string> | undefined, boolean, RegExp][] = [
    ["ambient namespace enrolls", pod(), ambient, true, /namespace label/],
    ["unlabelled namespace does not", pod(), {}, false, /not labelled/],
    ["unknown namespace does not", pod(), undefined, false, /namespace unknown/],
    [
      "pod label none opts out",
      pod({ object: { labels: { "istio.io/dataplane-mode": "none" }, annotations: {}, nodeName: "node-0" } }),
      ambient,
      false,
      /=none/,
    ],
    [
      "pod label ambient opts in",
      pod({ object: { labels: { "istio.io/dataplane-mode": "ambient" }, annotations: {}, nodeName: "node-0" } }),
      {},
      true,
      /pod label/,
    ],
    [
      "sidecar pods are never captured",
      pod({ object: { labels: {}, annotations: { "sidecar.istio.io/status": "{}" }, nodeName: "node-0" } }),
      ambient,
      false,
      /sidecar/,
    ],
    ["pod scheduled elsewhere", pod({ object: { labels: {}, annotations: {}, nodeName: "node-1" } }), ambient, false, /node-1/],
    ["object not seen yet: the namespace decides", pod({ object: undefined }), ambient, true, /namespace label/],
    ["no sandbox", pod({ cni: undefined }), ambient, false, /no sandbox/],
    ["no host interface", pod({ cni: { ...cni, hostInterface: undefined } }), ambient, false, /host interface/],
    ["dual-stack refused", pod({ cni: { ...cni, ips: ["198.19.200.5", "fd00::5"] } }), ambient, false, /IPv4-only/],
  ];
  for (const [name, facts, ns, enroll, reason] of cases) {
    const d = decide(facts, ns, "node-0");
    assert.equal(d.enroll, enroll, name);
    assert.match(d.reason, reason, name);
  }
});

test("plan: enrolls new, releases removed, and re-enrolls a pod whose veth or IPs changed", () => {
  const c = (key: string, veth: string, ip: string): Capture => ({ key, hostVeth: veth, ips: [ip] });
  const applied = new Map([
    ["a", c("a", "v1", "198.19.200.2")],
    ["b", c("b", "v2", "198.19.200.3")],
    ["d", c("d", "v4", "198.19.200.5")],
  ]);
  const desired = new Map([
    ["a", c("a", "v1", "198.19.200.2")],
    ["c", c("c", "v3", "198.19.200.4")],
    ["d", c("d", "v9", "198.19.200.5")],
  ]);
  const p = plan(desired, applied);
  assert.deepEqual(
    p.unenroll.map((x) => `${x.key}:${x.hostVeth}`),
    ["b:v2", "d:v4"],
  );
  assert.deepEqual(
    p.enroll.map((x) => `${x.key}:${x.hostVeth}`),
    ["c:v3", "d:v9"],
  );
  assert.deepEqual(plan(desired, desired), { enroll: [], unenroll: [] });
});
