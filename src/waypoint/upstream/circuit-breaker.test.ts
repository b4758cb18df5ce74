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
  assert.equal(cb.admitRetry(), true);
  assert.equal(cb.admitRetry(), false);
  cb.retryDone();
  assert.equal(cb.admitRetry(), true);
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
