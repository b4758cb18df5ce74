/**
 * ClusterPolicies as the request path uses it (pick, admit, done, report, admitRetry, retain),
 * over clusters decoded from Envoy JSON by the real decoder: which endpoints may be picked, how
 * the circuit breaker and outlier detection see one request's life, and what survives a
 * cluster update. Time and randomness are injected; no sockets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterPolicies } from "./cluster-policies.js";
import { endpointKey } from "./balancer.js";
import { ep } from "./testing.js";
import { clusterFromJson } from "../route/testing.js";
import type { Cluster, ClusterEndpoints, Endpoint } from "../envoy/types.js";

const eds = { type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } };
const cluster = (extra: Record<string, unknown> = {}, name = "c"): Cluster => clusterFromJson({ name, ...eds, ...extra });
const setOf = (...endpoints: Endpoint[]): ClusterEndpoints => ({ clusterName: "c", endpoints });
const a = ep("10.0.0.1");
const b = ep("10.0.0.2");
const c3 = ep("10.0.0.3");
const s503 = { kind: "status", status: 503 } as const;
const s200 = { kind: "status", status: 200 } as const;
/** Ejects a host at its first 5xx, for 30 s (Envoy's default base_ejection_time). */
const ejectAtFirst5xx = {
  outlier_detection: { consecutive_5xx: 1, enforcing_consecutive_5xx: 100, enforcing_success_rate: 0, max_ejection_percent: 100 },
};
const limits = (t: Record<string, number>) => ({ circuit_breakers: { thresholds: [t] } });

/** ClusterPolicies with a settable clock and a recorder of its events. */
function policies(random = () => 0) {
  let t = 1_000_000;
  const events: string[] = [];
  const p = new ClusterPolicies(random, () => t, {
    ejected: (name, e) => events.push(`ejected ${name} ${e.host} ${e.reason}`),
    overflow: (name, limit) => events.push(`overflow ${name} ${limit}`),
  });
  return { p, events, advance: (ms: number) => (t += ms) };
}

const picks = (p: ClusterPolicies, cl: Cluster, set: ClusterEndpoints, n: number, exclude?: ReadonlySet<string>) =>
  Array.from({ length: n }, () => p.pick(cl, set, exclude ? { exclude } : {})?.ip);

void test("pick: only healthy endpoints with weight may be picked; none left is undefined (UH)", () => {
  const { p } = policies();
  const cl = cluster();
  const cases: Array<[string, ClusterEndpoints, (string | undefined)[]]> = [
    ["round robin over all", setOf(a, b), ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]],
    ["an unhealthy endpoint is skipped", setOf(a, ep("10.0.0.2", { healthy: false })), ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.1"]],
    ["a weight-0 endpoint is skipped", setOf(ep("10.0.0.1", { weight: 0 }), b), ["10.0.0.2", "10.0.0.2", "10.0.0.2", "10.0.0.2"]],
    ["none usable", setOf(ep("10.0.0.1", { healthy: false })), [undefined, undefined, undefined, undefined]],
    ["no endpoints", setOf(), [undefined, undefined, undefined, undefined]],
  ];
  // Envoy's default panic threshold (50 %) routes to all hosts when too few are healthy; 0 turns
  // panic mode off so the filter is seen alone.
  const noPanic = cluster({ common_lb_config: { healthy_panic_threshold: { value: 0 } } });
  for (const [name, set, want] of cases) assert.deepEqual(picks(p, name === "round robin over all" ? cl : noPanic, set, 4), want, name);
});

void test("pick: endpoints a retry already tried are excluded, and only those", () => {
  const { p } = policies();
  const cl = cluster({ common_lb_config: { healthy_panic_threshold: { value: 0 } } });
  const set = setOf(a, b, c3);
  assert.deepEqual(picks(p, cl, set, 4, new Set([endpointKey(a)])), ["10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.3"]);
  assert.deepEqual(picks(p, cl, set, 1, new Set([a, b, c3].map(endpointKey))), [undefined], "all tried: nothing left");
});

void test("done: the outcome of a request ejects its endpoint (outlier detection), which is then not picked", () => {
  const { p, events, advance } = policies();
  const cl = cluster({ ...ejectAtFirst5xx, common_lb_config: { healthy_panic_threshold: { value: 0 } } });
  const set = setOf(a, b);
  const first = p.pick(cl, set)!;
  assert.equal(first.ip, "10.0.0.1");
  const adm = p.admit(cl, first, false);
  assert.ok(adm.ok);
  adm.done(s503);
  assert.deepEqual(events, ["ejected c 10.0.0.1:80 consecutive_5xx"]);
  assert.deepEqual(picks(p, cl, set, 3), ["10.0.0.2", "10.0.0.2", "10.0.0.2"], "the ejected endpoint is not picked");
  assert.deepEqual([...p.ejectedByCluster()], [["c", 1]]);
  assert.equal(p.dump().c?.outlierDetection !== undefined, true);
  advance(31_000);
  assert.deepEqual([...p.ejectedByCluster()], [["c", 0]], "back after base_ejection_time (at the next interval tick)");
  assert.ok(picks(p, cl, set, 2).includes("10.0.0.1"));
});

void test("done: counts once, for the endpoint of the last attempt, and only with an outcome", () => {
  const cl = cluster(ejectAtFirst5xx);
  {
    const { p, events } = policies();
    const adm = p.admit(cl, a, true);
    assert.ok(adm.ok);
    adm.done(s503, b);
    assert.deepEqual(events, ["ejected c 10.0.0.2:80 consecutive_5xx"], "the retried attempt's endpoint, not the admitted one");
  }
  {
    const { p, events } = policies();
    const adm = p.admit(cl, a, true);
    assert.ok(adm.ok);
    adm.done(undefined);
    assert.deepEqual(events, [], "no outcome (the client went away): nothing counted");
    assert.deepEqual(p.dump().c?.circuitBreaker, { requests: 0, connections: 0, pending: 0, retries: 0, overflows: 0 });
  }
  {
    const { p, events } = policies();
    const two = cluster({
      outlier_detection: { consecutive_5xx: 2, enforcing_consecutive_5xx: 100, enforcing_success_rate: 0, max_ejection_percent: 100 },
    });
    const adm = p.admit(two, a, true);
    assert.ok(adm.ok);
    adm.done(s503);
    adm.done(s503);
    assert.deepEqual(events, [], "a second done is ignored: one request, one 5xx (consecutive_5xx 2 not reached)");
    const other = p.admit(two, b, true);
    assert.ok(other.ok);
    assert.equal(p.dump().c?.circuitBreaker.requests, 1, "the second done did not release another request's slot");
  }
});

void test("admit: the circuit breaker's limits overflow with the limit and its value named, and tell the events", () => {
  const cases: Array<[string, Record<string, number>, boolean, string]> = [
    ["max_requests", { max_requests: 1 }, false, "cluster c: max_requests (1) reached"],
    ["max_pending_requests", { max_connections: 1, max_pending_requests: 0 }, true, "cluster c: max_pending_requests (0) reached"],
  ];
  for (const [limit, t, h1, reason] of cases) {
    const { p, events } = policies();
    const cl = cluster(limits(t));
    assert.ok(p.admit(cl, a, h1).ok, limit);
    const over = p.admit(cl, a, h1);
    assert.deepEqual(over, { ok: false, reason }, limit);
    assert.deepEqual(events, [`overflow c ${limit}`], limit);
  }
  const { p } = policies();
  const tcp = cluster(limits({ max_connections: 1 }));
  assert.ok(p.admit(tcp, a, true, false).ok);
  assert.deepEqual(p.admit(tcp, a, true, false), { ok: false, reason: "cluster c: max_connections (1) reached" }, "tcp_proxy: no queue");
});

void test("admit: an HTTP/1.1 request over max_connections waits, and starts when the one before it is done", async () => {
  const { p } = policies();
  const cl = cluster(limits({ max_connections: 1, max_pending_requests: 1 }));
  const first = p.admit(cl, a, true);
  assert.ok(first.ok && first.pending === undefined);
  const second = p.admit(cl, a, true);
  assert.ok(second.ok && second.pending !== undefined, "queued as pending");
  let started = false;
  void second.pending.then(() => (started = true));
  await Promise.resolve();
  assert.equal(started, false);
  first.done(s200);
  await second.pending;
  assert.equal(started, true);
  assert.deepEqual(p.dump().c?.circuitBreaker.connections, 1, "the connection passed to the waiting request");
});

void test("admitRetry: max_retries overflows (and tells the events); a grant's done frees one retry, once", () => {
  const { p, events } = policies();
  const cl = cluster(limits({ max_retries: 2 }));
  const r1 = p.admitRetry(cl);
  const r2 = p.admitRetry(cl);
  assert.ok(r1 && r2);
  assert.equal(p.admitRetry(cl), undefined);
  assert.deepEqual(events, ["overflow c max_retries"]);
  r1.done();
  r1.done();
  assert.ok(p.admitRetry(cl), "one slot freed");
  assert.equal(p.admitRetry(cl), undefined, "the second release of the same retry freed nothing");
});

void test("report: without outlier detection an answer changes nothing; with it, each retried answer counts", () => {
  const { p, events } = policies();
  p.report(cluster(), a, s503);
  assert.deepEqual(events, []);
  assert.equal(p.dump().c?.outlierDetection, undefined);
  assert.deepEqual([...p.ejectedByCluster()], [], "no detector, no ejection gauge");
  const withOd = cluster(ejectAtFirst5xx);
  p.report(withOd, b, s503);
  assert.deepEqual(events, ["ejected c 10.0.0.2:80 consecutive_5xx"]);
});

void test("a cluster update keeps the breaker's in-flight counts and the ejections, with the new limits", () => {
  const { p } = policies();
  const v1 = cluster({ ...limits({ max_requests: 1 }), ...ejectAtFirst5xx });
  const held = p.admit(v1, a, false);
  assert.ok(held.ok);
  p.report(v1, b, s503);
  const v2 = cluster({ ...limits({ max_requests: 2 }), ...ejectAtFirst5xx });
  assert.ok(p.admit(v2, a, false).ok, "the new limit applies");
  assert.equal(p.admit(v2, a, false).ok, false, "the request admitted under v1 still counts");
  assert.deepEqual([...p.ejectedByCluster()], [["c", 1]], "the ejection survives the update");
});

void test("a cluster update keeps the balancer when the lb settings are the same, and replaces it when they change", () => {
  const { p } = policies();
  const set = setOf(a, b, c3);
  assert.deepEqual(picks(p, cluster(), set, 1), ["10.0.0.1"]);
  assert.deepEqual(picks(p, cluster(limits({ max_requests: 5 })), set, 1), ["10.0.0.2"], "same lb: round robin continues");
  const rh = cluster({ lb_policy: "RING_HASH" });
  const h = (hash: number) => p.pick(rh, set, { hash })?.ip;
  assert.equal(h(12345), h(12345), "a ring hash balancer now: the same hash, the same endpoint");
  assert.equal(p.dump().c?.lbPolicy, "RING_HASH");
  assert.deepEqual(picks(p, cluster(), set, 2), ["10.0.0.1", "10.0.0.2"], "round robin again: a new balancer starts over");
});

void test("an ORIGINAL_DST cluster is admitted and counted without picking endpoints", () => {
  const { p } = policies();
  const od = clusterFromJson({ name: "passthrough", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED" });
  const adm = p.admit(od, ep("10.9.8.7", { port: 9080 }), false);
  assert.ok(adm.ok);
  assert.equal(p.dump().passthrough?.circuitBreaker.requests, 1);
  assert.equal(p.dump().passthrough?.lbPolicy, "CLUSTER_PROVIDED");
  adm.done(s200);
  assert.equal(p.dump().passthrough?.circuitBreaker.requests, 0);
});

void test("retain forgets clusters that went; one that comes back starts with fresh counts", () => {
  const { p } = policies();
  const x = cluster(limits({ max_requests: 1 }), "x");
  const y = cluster({}, "y");
  assert.ok(p.admit(x, a, false).ok);
  p.admit(y, a, false);
  p.retain(new Set(["y"]));
  assert.deepEqual(Object.keys(p.dump()), ["y"]);
  assert.ok(p.admit(x, a, false).ok, "x's old in-flight request no longer counts");
});
