import { test } from "node:test";
import assert from "node:assert/strict";
import { type Capture, type PodFacts, decide, plan, planAfterRestart } from "./enrollment.js";

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
    ["dual-stack captured", pod({ cni: { ...cni, ips: ["198.19.200.5", "fd00::5"] } }), ambient, true, /namespace label/],
    ["IPv6-only captured", pod({ cni: { ...cni, ips: ["fd00::5"] } }), ambient, true, /namespace label/],
    ["no address refused", pod({ cni: { ...cni, ips: [] } }), ambient, false, /no IP address/],
    ["a non-IP address refused", pod({ cni: { ...cni, ips: ["198.19.200.5", "pod.local"] } }), ambient, false, /"pod.local" is not an IP/],
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

test("plan: an IP change re-enrolls with the old capture removed and the new one added", () => {
  const cap = (key: string, veth: string, ips: string[]): Capture => ({ key, hostVeth: veth, ips });
  const cases: Array<[string, Capture | undefined, Capture | undefined, string[], string[]]> = [
    ["same veth, new IP", cap("a", "v1", ["10.0.0.1"]), cap("a", "v1", ["10.0.0.9"]), ["a:v1:10.0.0.1"], ["a:v1:10.0.0.9"]],
    ["new veth and new IP", cap("a", "v1", ["10.0.0.1"]), cap("a", "v2", ["10.0.0.9"]), ["a:v1:10.0.0.1"], ["a:v2:10.0.0.9"]],
    [
      "an address added",
      cap("a", "v1", ["10.0.0.1"]),
      cap("a", "v1", ["10.0.0.1", "10.0.0.2"]),
      ["a:v1:10.0.0.1"],
      ["a:v1:10.0.0.1,10.0.0.2"],
    ],
    [
      "an address removed",
      cap("a", "v1", ["10.0.0.1", "10.0.0.2"]),
      cap("a", "v1", ["10.0.0.2"]),
      ["a:v1:10.0.0.1,10.0.0.2"],
      ["a:v1:10.0.0.2"],
    ],
    ["unchanged", cap("a", "v1", ["10.0.0.1"]), cap("a", "v1", ["10.0.0.1"]), [], []],
    ["only applied: released", cap("a", "v1", ["10.0.0.1"]), undefined, ["a:v1:10.0.0.1"], []],
    ["only desired: enrolled", undefined, cap("a", "v1", ["10.0.0.1"]), [], ["a:v1:10.0.0.1"]],
  ];
  const show = (xs: readonly Capture[]) => xs.map((x) => `${x.key}:${x.hostVeth}:${x.ips.join(",")}`);
  for (const [name, applied, desired, unenroll, enroll] of cases) {
    const p = plan(new Map(desired ? [["a", desired]] : []), new Map(applied ? [["a", applied]] : []));
    // The unenroll carries the APPLIED capture, so the backend removes the old addresses' entries.
    assert.deepEqual(show(p.unenroll), unenroll, `${name}: unenroll`);
    assert.deepEqual(show(p.enroll), enroll, `${name}: enroll`);
  }
});

test("plan: applying a plan always yields exactly the desired captures (all combinations of three pods)", () => {
  const variants: Array<Capture | undefined> = [undefined];
  for (const veth of ["v1", "v2"]) for (const ip of ["10.0.0.1", "10.0.0.2"]) variants.push({ key: "", hostVeth: veth, ips: [ip] });
  const keys = ["a", "b", "c"];
  const show = (m: ReadonlyMap<string, Capture>) => JSON.stringify([...m].sort(([x], [y]) => x.localeCompare(y)));
  let combos = 0;
  const pick = (n: number) => keys.map((k, i) => [k, variants[Math.floor(n / variants.length ** i) % variants.length]] as const);
  const total = variants.length ** keys.length;
  for (let a = 0; a < total; a++)
    for (let d = 0; d < total; d++) {
      const applied = new Map(pick(a).flatMap(([k, v]) => (v ? [[k, { ...v, key: k }] as const] : [])));
      const desired = new Map(pick(d).flatMap(([k, v]) => (v ? [[k, { ...v, key: k }] as const] : [])));
      const p = plan(desired, applied);
      const after = new Map(applied);
      for (const u of p.unenroll) {
        assert.equal(after.get(u.key), applied.get(u.key), "unenroll removes what is applied");
        after.delete(u.key);
      }
      for (const e of p.enroll) {
        assert.ok(!after.has(e.key), "enroll never stacks on a live capture");
        after.set(e.key, e);
      }
      assert.equal(show(after), show(desired));
      // Nothing is touched that needs no change.
      for (const u of p.unenroll) assert.notEqual(JSON.stringify(desired.get(u.key)), JSON.stringify(applied.get(u.key)));
      combos++;
    }
  assert.equal(combos, total * total);
});

test("planAfterRestart: releases what the previous run applied and is no longer desired, and enrolls every desired pod again", () => {
  const c = (key: string, veth: string, ip: string): Capture => ({ key, hostVeth: veth, ips: [ip] });
  const adopted = new Map([
    ["a", c("a", "v1", "198.19.200.2")],
    ["b", c("b", "v2", "198.19.200.3")],
    ["d", c("d", "v4", "198.19.200.5")],
  ]);
  const desired = new Map([
    ["d", c("d", "v9", "198.19.200.5")],
    ["a", c("a", "v1", "198.19.200.2")],
    ["c", c("c", "v3", "198.19.200.4")],
  ]);
  const p = planAfterRestart(desired, adopted);
  assert.deepEqual(
    p.unenroll.map((x) => `${x.key}:${x.hostVeth}`),
    ["b:v2", "d:v4"],
    "released: gone from desired, or changed (the adopted capture is the one removed)",
  );
  assert.deepEqual(
    p.enroll.map((x) => `${x.key}:${x.hostVeth}`),
    ["a:v1", "c:v3", "d:v9"],
    "every desired pod, also the unchanged one the state file says is applied",
  );
  assert.deepEqual(planAfterRestart(new Map(), new Map()), { enroll: [], unenroll: [] });
});
