import { test } from "node:test";
import assert from "node:assert/strict";
import { consistentHashFor, effectivePolicy } from "./traffic-policy.js";

const pool = (n: number) => ({ tcp: { maxConnections: n } });
const rr = { simple: "ROUND_ROBIN" };
const random = { simple: "RANDOM" };
const hash = (h: string) => ({ consistentHash: { httpHeaderName: h } });

const spec = {
  host: "reviews",
  trafficPolicy: {
    connectionPool: pool(1),
    loadBalancer: rr,
    outlierDetection: { consecutive5xxErrors: 3 },
    portLevelSettings: [{ port: { number: 9090 }, loadBalancer: random }],
  },
  subsets: [
    { name: "lb", trafficPolicy: { loadBalancer: hash("x-sub") } },
    {
      name: "portsub",
      trafficPolicy: { connectionPool: pool(7), portLevelSettings: [{ port: { number: 80 }, loadBalancer: hash("x-sub-port") }] },
    },
    { name: "plain" },
  ],
};

test("traffic policy: Istio's merge of top level, port level and subset", () => {
  const cases: [string, number, string, unknown][] = [
    ["top level", 80, "", { connectionPool: pool(1), loadBalancer: rr, outlierDetection: { consecutive5xxErrors: 3 } }],
    ["a port entry replaces the top level wholesale (no inheritance)", 9090, "", { loadBalancer: random }],
    [
      "a subset part overrides, the rest is inherited",
      80,
      "lb",
      { connectionPool: pool(1), loadBalancer: hash("x-sub"), outlierDetection: { consecutive5xxErrors: 3 } },
    ],
    [
      "a subset without a policy: the rule's",
      80,
      "plain",
      { connectionPool: pool(1), loadBalancer: rr, outlierDetection: { consecutive5xxErrors: 3 } },
    ],
    ["a subset's port entry replaces all four parts", 80, "portsub", { loadBalancer: hash("x-sub-port") }],
    [
      "the subset's top level on another port, over the rule's port entry",
      9090,
      "portsub",
      { loadBalancer: random, connectionPool: pool(7) },
    ],
    [
      "an unknown subset: the rule's",
      80,
      "nope",
      { connectionPool: pool(1), loadBalancer: rr, outlierDetection: { consecutive5xxErrors: 3 } },
    ],
  ];
  for (const [name, port, subset, want] of cases) assert.deepEqual(effectivePolicy(spec, port, subset), want, name);
  assert.equal(effectivePolicy(undefined, 80, ""), undefined);
  assert.equal(effectivePolicy({ host: "x" }, 80, ""), undefined);
});

test("traffic policy: retryBudget is top level only, and a subset's replaces the rule's when set (MergeTrafficPolicy)", () => {
  const b = (n: number) => ({ minRetryConcurrency: n });
  const dr = {
    host: "reviews",
    trafficPolicy: { retryBudget: b(1), portLevelSettings: [{ port: { number: 9090 }, loadBalancer: random }] },
    subsets: [
      { name: "own", trafficPolicy: { retryBudget: b(2) } },
      { name: "none", trafficPolicy: { loadBalancer: rr } },
      { name: "port", trafficPolicy: { retryBudget: b(3), portLevelSettings: [{ port: { number: 80 }, loadBalancer: rr }] } },
    ],
  };
  const cases: [string, number, string, unknown][] = [
    ["the rule's budget", 80, "", b(1)],
    ["a port entry drops it (shadowCopyPortTrafficPolicy copies four parts)", 9090, "", undefined],
    ["a subset's own budget wins", 80, "own", b(2)],
    ["a subset without one inherits the rule's", 80, "none", b(1)],
    ["a subset's port entry has none: the rule's stays (set-only override)", 80, "port", b(1)],
    ["the subset's budget on a port the subset has no entry for, over the rule's port entry", 9090, "port", b(3)],
  ];
  for (const [name, port, subset, want] of cases) assert.deepEqual(effectivePolicy(dr, port, subset)?.retryBudget, want, name);
});

test("traffic policy: the consistent hash a route uses (subset port, subset, rule port, rule)", () => {
  const s = {
    host: "h",
    trafficPolicy: { loadBalancer: hash("top"), portLevelSettings: [{ port: { number: 81 }, loadBalancer: hash("top-81") }] },
    subsets: [
      { name: "a", trafficPolicy: { loadBalancer: hash("a"), portLevelSettings: [{ port: { number: 82 }, loadBalancer: hash("a-82") }] } },
      { name: "b", trafficPolicy: { connectionPool: pool(1) } },
    ],
  };
  const key = (port: number, subset: string) => consistentHashFor(s, port, subset)?.httpHeaderName;
  assert.equal(key(80, ""), "top");
  assert.equal(key(81, ""), "top-81");
  assert.equal(key(82, "a"), "a-82");
  assert.equal(key(80, "a"), "a");
  assert.equal(key(81, "b"), "top-81");
  assert.equal(key(80, "b"), "top");
  assert.equal(consistentHashFor({ host: "h", trafficPolicy: { loadBalancer: rr } }, 80, ""), undefined);
});
