import { test } from "node:test";
import assert from "node:assert/strict";
import { CircuitBreaker, type Ticket } from "./circuit-breaker.js";

const limits = { maxConnections: 1, maxPendingRequests: 1, maxRequests: 100, maxRetries: 1 };

test("circuit breaker: Istio's task limits (1 connection, 1 pending): the third concurrent HTTP/1.1 request overflows", () => {
  const cb = new CircuitBreaker(limits);
  const first = cb.admit(true);
  const second = cb.admit(true);
  const third = cb.admit(true);
  assert.equal(first.kind, "ok");
  assert.equal(second.kind, "pending");
  assert.deepEqual(third, { kind: "overflow", limit: "max_pending_requests" });
  assert.deepEqual(cb.counts(), { requests: 2, connections: 1, pending: 1, retries: 0, overflows: 1 });
});

test("circuit breaker: releasing hands the connection to the first pending request", async () => {
  const cb = new CircuitBreaker(limits);
  const first = cb.admit(true);
  const second = cb.admit(true);
  assert.ok(first.kind === "ok" && second.kind === "pending");
  let granted = false;
  void second.granted.then(() => (granted = true));
  cb.release(first.ticket);
  await Promise.resolve();
  assert.equal(granted, true);
  assert.equal(second.ticket.state, "active");
  assert.deepEqual(cb.counts(), { requests: 1, connections: 1, pending: 0, retries: 0, overflows: 0 });
  cb.release(second.ticket);
  cb.release(second.ticket);
  assert.deepEqual(cb.counts(), { requests: 0, connections: 0, pending: 0, retries: 0, overflows: 0 }, "a second release is a no-op");
});

test("circuit breaker: a pending request that gives up leaves the queue", () => {
  const cb = new CircuitBreaker(limits);
  const first = cb.admit(true);
  const second = cb.admit(true);
  assert.ok(second.kind === "pending");
  cb.release(second.ticket);
  assert.equal(cb.admit(true).kind, "pending", "its place is free again");
  void first;
});

test("circuit breaker: max_requests bounds HTTP/2 streams; HTTP/2 needs no connection slot", () => {
  const cb = new CircuitBreaker({ ...limits, maxRequests: 2 });
  const tickets: Ticket[] = [];
  for (let i = 0; i < 2; i++) {
    const a = cb.admit(false);
    assert.equal(a.kind, "ok");
    if (a.kind === "ok") tickets.push(a.ticket);
  }
  assert.deepEqual(cb.admit(false), { kind: "overflow", limit: "max_requests" });
  cb.release(tickets[0]!);
  assert.equal(cb.admit(false).kind, "ok");
});

test("circuit breaker: max_retries bounds concurrent retries; raised limits drain the queue", async () => {
  const cb = new CircuitBreaker(limits);
  const first = cb.admitRetry();
  assert.ok(first);
  assert.equal(cb.admitRetry(), undefined);
  first.done();
  first.done();
  assert.equal(cb.counts().retries, 0, "done twice releases once");
  assert.ok(cb.admitRetry());
  cb.admit(true);
  const p = cb.admit(true);
  assert.ok(p.kind === "pending");
  cb.update({ ...limits, maxConnections: 2 });
  await p.granted;
  assert.equal(p.ticket.state, "active");
});

test("circuit breaker: without a queue (tcp_proxy) a missing connection slot is a max_connections overflow", () => {
  const cb = new CircuitBreaker(limits);
  assert.equal(cb.admit(true, false).kind, "ok");
  assert.deepEqual(cb.admit(true, false), { kind: "overflow", limit: "max_connections" });
});

test("circuit breaker: a retry budget is a share of the requests in flight, not counting those in back-off", () => {
  // 20% with a floor of 2; max_retries 1 is ignored once a budget is set (Envoy).
  const cb = new CircuitBreaker({
    ...limits,
    maxConnections: 100,
    maxRetries: 1,
    retryBudget: { budgetPercent: 20, minRetryConcurrency: 2 },
  });
  const tickets: Ticket[] = [];
  for (let i = 0; i < 20; i++) {
    const a = cb.admit(true);
    assert.equal(a.kind, "ok");
    if (a.kind === "ok") tickets.push(a.ticket);
  }
  // 20 in flight: limit 4. Each granted retry is in back-off, so the next sees one request fewer in flight.
  const grants = [cb.admitRetry(), cb.admitRetry(), cb.admitRetry()];
  assert.ok(
    grants.every((g) => g !== undefined),
    "20 -> 4, 19 -> 3, 18 -> 3: three grants",
  );
  assert.equal(cb.admitRetry(), undefined, "17 in flight allow 3, and 3 run");
  for (const g of grants) g!.attempting();
  assert.ok(cb.admitRetry(), "back in flight: 20 -> 4 > 3 running");
  assert.equal(cb.counts().overflows, 1);
  for (const t of tickets.slice(0, 15)) cb.release(t);
  // 5 in flight (one of them in back-off): the floor 2 < 4 running.
  assert.equal(cb.admitRetry(), undefined);
  for (const g of grants) g!.done();
  assert.equal(cb.counts().retries, 1);
  assert.ok(cb.admitRetry(), "1 running, floor 2");
});
