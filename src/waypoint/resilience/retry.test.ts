/** Table tests: retry eligibility per retry_on condition, Envoy's back-off, previous_hosts host selection. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint, RetryOn, RetryPolicy } from "../envoy/types.js";
import { type AttemptOutcome, backoffMs, isRetriable, retryEndpoint } from "./retry.js";

const policy = (on: string, extra: Partial<RetryPolicy> = {}): RetryPolicy => ({
  retryOn: new Set(on.split(",").filter(Boolean) as RetryOn[]),
  numRetries: 2,
  perTryTimeoutMs: 0,
  retriableStatusCodes: [],
  backOff: { baseMs: 25, maxMs: 250 },
  previousHosts: true,
  hostSelectionMaxAttempts: 5,
  ...extra,
});
const resp = (status: number, headers: Record<string, string> = {}, grpcStatus?: number): AttemptOutcome => ({
  kind: "response",
  status,
  headers,
  ...(grpcStatus !== undefined ? { grpcStatus } : {}),
});
const fail = (failure: "UF" | "UR" | "UC" | "UPE" | "UT", refused = false): AttemptOutcome => ({ kind: "failure", failure, refused });

const ISTIO_DEFAULT = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

void describe("isRetriable", () => {
  const cases: [string, RetryPolicy, AttemptOutcome, boolean][] = [
    ["5xx: 500", policy("5xx"), resp(500), true],
    ["5xx: 503", policy("5xx"), resp(503), true],
    ["5xx: not 404", policy("5xx"), resp(404), false],
    ["5xx: a reset", policy("5xx"), fail("UR"), true],
    ["5xx: a per-try timeout", policy("5xx"), fail("UT"), true],
    ["5xx: a connect failure", policy("5xx"), fail("UF"), true],
    ["gateway-error: 502", policy("gateway-error"), resp(502), true],
    ["gateway-error: 504", policy("gateway-error"), resp(504), true],
    ["gateway-error: not 500", policy("gateway-error"), resp(500), false],
    ["gateway-error: a per-try timeout", policy("gateway-error"), fail("UT"), true],
    ["reset: a reset", policy("reset"), fail("UR"), true],
    ["reset: a closed connection", policy("reset"), fail("UC"), true],
    ["reset: not a 503 response", policy("reset"), resp(503), false],
    ["connect-failure: a connect failure", policy("connect-failure"), fail("UF"), true],
    ["connect-failure: not a reset", policy("connect-failure"), fail("UR"), false],
    ["connect-failure: not a per-try timeout", policy("connect-failure"), fail("UT"), false],
    ["reset-before-request: a connect failure", policy("reset-before-request"), fail("UF"), true],
    ["reset-before-request: not a reset after sending", policy("reset-before-request"), fail("UR"), false],
    ["refused-stream: REFUSED_STREAM", policy("refused-stream"), fail("UR", true), true],
    ["refused-stream: not another reset", policy("refused-stream"), fail("UR"), false],
    ["retriable-4xx: 409", policy("retriable-4xx"), resp(409), true],
    ["retriable-4xx: not 429", policy("retriable-4xx"), resp(429), false],
    ["retriable-status-codes: a listed code", policy("retriable-status-codes", { retriableStatusCodes: [418] }), resp(418), true],
    ["retriable-status-codes: an unlisted code", policy("retriable-status-codes", { retriableStatusCodes: [418] }), resp(503), false],
    ["retriable-status-codes without codes: nothing (Istio's default has none)", policy(ISTIO_DEFAULT), resp(503), false],
    ["envoy-ratelimited: the header", policy("envoy-ratelimited"), resp(429, { "x-envoy-ratelimited": "true" }), true],
    ["envoy-ratelimited: no header", policy("envoy-ratelimited"), resp(429), false],
    ["unavailable: grpc-status 14", policy("unavailable"), resp(200, {}, 14), true],
    ["cancelled: grpc-status 1", policy("cancelled"), resp(200, {}, 1), true],
    ["deadline-exceeded: grpc-status 4", policy("deadline-exceeded"), resp(200, {}, 4), true],
    ["resource-exhausted: grpc-status 8", policy("resource-exhausted"), resp(200, {}, 8), true],
    ["internal: grpc-status 13", policy("internal"), resp(200, {}, 13), true],
    ["unavailable: not grpc-status 13", policy("unavailable"), resp(200, {}, 13), false],
    ["Istio's default: a connect failure", policy(ISTIO_DEFAULT), fail("UF"), true],
    ["Istio's default: REFUSED_STREAM", policy(ISTIO_DEFAULT), fail("UR", true), true],
    ["Istio's default: grpc UNAVAILABLE", policy(ISTIO_DEFAULT), resp(200, {}, 14), true],
    ["Istio's default: not a plain reset", policy(ISTIO_DEFAULT), fail("UR"), false],
    ["Istio's default: not a per-try timeout", policy(ISTIO_DEFAULT), fail("UT"), false],
    ["x-envoy-overloaded is never retried", policy("5xx"), resp(503, { "x-envoy-overloaded": "true" }), false],
    ["2xx is never retried", policy("5xx,gateway-error,retriable-4xx"), resp(200), false],
  ];
  for (const [name, p, o, want] of cases) void it(name, () => assert.equal(isRetriable(p, o), want));
});

void describe("backoffMs (Envoy's jittered exponential back-off)", () => {
  const b = { baseMs: 25, maxMs: 250 };
  const cases: [number, number, number][] = [
    // retry, random, want: the cap is min((2^n - 1) * base, max), the wait random * cap
    [1, 0.999, 24],
    [1, 0, 0],
    [2, 0.5, 37],
    [3, 0.999, 174],
    [4, 0.999, 249],
    [20, 0.999, 249],
  ];
  for (const [n, r, want] of cases)
    void it(`retry ${n}, draw ${r} -> ${want} ms`, () =>
      assert.equal(
        backoffMs(n, b, () => r),
        want,
      ));
});

void describe("retryEndpoint (previous_hosts)", () => {
  const ep = (ip: string): Endpoint => ({ ip, port: 8080, weight: 1, healthy: true, priority: 0, locality: "", localityWeight: 1 });
  const a = ep("10.0.0.1"),
    b = ep("10.0.0.2"),
    c = ep("10.0.0.3");
  const seq = (...eps: Endpoint[]) => {
    let i = 0;
    return () => eps[i++ % eps.length];
  };
  void it("skips tried endpoints", () => assert.equal(retryEndpoint(policy("5xx"), [a], seq(a, a, b)), b));
  void it("gives up after host_selection_retry_max_attempts and uses the last pick", () =>
    assert.equal(retryEndpoint(policy("5xx", { hostSelectionMaxAttempts: 1 }), [a, b], seq(a, b, c)), b));
  void it("a single endpoint is retried itself", () => assert.equal(retryEndpoint(policy("5xx"), [a], seq(a)), a));
  void it("without the predicate, the next pick whatever it is", () =>
    assert.equal(retryEndpoint(policy("5xx", { previousHosts: false }), [a], seq(a, b)), a));
});
