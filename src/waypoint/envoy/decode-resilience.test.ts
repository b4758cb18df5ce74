/** Table tests: RouteAction.retry_policy and the fault filter's per-route HTTPFault, decoded with Envoy's defaults. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FAULT_TYPE_URL, LOCAL_RATE_LIMIT_TYPE_URL, envoyTypes } from "../../common/xds/envoy-proto.js";
import {
  FAULT_FILTER,
  PREVIOUS_HOSTS,
  RATE_LIMIT_FILTER,
  fractionOf,
  perFilterFault,
  perFilterRateLimit,
  retryPolicy,
} from "./decode-resilience.js";
import { Decoding } from "./fields.js";

function retry(o: Record<string, unknown>) {
  const d = new Decoding("rt");
  const p = retryPolicy(d, o, "retry_policy");
  return { p, errors: d.errors.map((e) => `${e.field}: ${e.reason}`) };
}

void describe("retry_policy", () => {
  void it("Envoy's defaults: 1 retry, 25 ms base back-off capped at 10x, 1 host selection attempt", () => {
    const { p, errors } = retry({ retryOn: "5xx" });
    assert.deepEqual(errors, []);
    assert.deepEqual([...p.retryOn], ["5xx"]);
    assert.equal(p.numRetries, 1);
    assert.deepEqual(p.backOff, { baseMs: 25, maxMs: 250 });
    assert.equal(p.hostSelectionMaxAttempts, 1);
    assert.equal(p.previousHosts, false);
    assert.equal(p.perTryTimeoutMs, 0);
  });

  void it("Istio's default policy decodes fully", () => {
    const { p, errors } = retry({
      retryOn: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
      numRetries: { value: 2 },
      hostSelectionRetryMaxAttempts: 5,
      retryHostPredicate: [{ name: PREVIOUS_HOSTS }],
      retriableStatusCodes: [503],
      perTryTimeout: { nanos: 300_000_000 },
      retryBackOff: { baseInterval: { nanos: 10_000_000 }, maxInterval: { seconds: 1 } },
    });
    assert.deepEqual(errors, []);
    assert.equal(p.retryOn.size, 5);
    assert.equal(p.numRetries, 2);
    assert.equal(p.hostSelectionMaxAttempts, 5);
    assert.equal(p.previousHosts, true);
    assert.deepEqual(p.retriableStatusCodes, [503]);
    assert.equal(p.perTryTimeoutMs, 300);
    assert.deepEqual(p.backOff, { baseMs: 10, maxMs: 1000 });
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["an unknown condition", { retryOn: "5xx,sometimes" }, /retry_policy\.retry_on: unknown retry condition "sometimes"/],
    ["a status outside HTTP", { retriableStatusCodes: [42] }, /retriable_status_codes\[0\]: 42 is not an HTTP status/],
    [
      "another host predicate",
      { retryHostPredicate: [{ name: "envoy.retry_host_predicates.omit_canary_hosts" }] },
      /retry_host_predicate\[0\]\.name/,
    ],
    [
      "max back-off below the base",
      { retryBackOff: { baseInterval: { seconds: 1 }, maxInterval: { nanos: 5_000_000 } } },
      /max_interval: must be at least/,
    ],
    ["retriable headers (not supported)", { retriableHeaders: [{ name: "x" }] }, /retry_policy\.retriable_headers: not supported/],
  ];
  for (const [name, o, want] of bad)
    void it(`rejects ${name}`, () => {
      const { errors } = retry(o);
      assert.ok(
        errors.some((e) => want.test(e)),
        errors.join("\n"),
      );
    });
});

void describe("typed_per_filter_config: the fault filter", () => {
  const packed = (o: Record<string, unknown>) => {
    const t = envoyTypes().HTTPFault;
    return { typeUrl: FAULT_TYPE_URL, value: t.encode(t.fromObject(o)).finish() };
  };
  const run = (m: Record<string, unknown>) => {
    const d = new Decoding("rt");
    return { f: perFilterFault(d, m, "typed_per_filter_config"), errors: d.errors.map((e) => `${e.field}: ${e.reason}`) };
  };

  void it("delay and abort with their fractions; an unset percentage is 0", () => {
    const { f, errors } = run({
      [FAULT_FILTER]: packed({
        delay: { fixedDelay: { seconds: 2 }, percentage: { numerator: 125_000, denominator: "MILLION" } },
        abort: { httpStatus: 503 },
      }),
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(f, { delay: { fixedMs: 2000, fraction: 0.125 }, abort: { httpStatus: 503, fraction: 0 } });
  });

  void it("a gRPC abort", () => {
    const { f } = run({ [FAULT_FILTER]: packed({ abort: { grpcStatus: 14, percentage: { numerator: 100 } } }) });
    assert.deepEqual(f, { abort: { grpcStatus: 14, fraction: 1 } });
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    [
      "another filter's config",
      { "envoy.filters.http.cors": packed({}) },
      /per-route config for "envoy\.filters\.http\.cors" is not supported/,
    ],
    ["header-controlled aborts", { [FAULT_FILTER]: packed({ abort: { headerAbort: {} } }) }, /abort\.header_abort: not supported/],
    [
      "an abort status outside [200, 600)",
      { [FAULT_FILTER]: packed({ abort: { httpStatus: 100 } }) },
      /abort\.http_status: 100 must be in/,
    ],
    ["max_active_faults", { [FAULT_FILTER]: packed({ maxActiveFaults: { value: 1 } }) }, /max_active_faults: not supported/],
  ];
  for (const [name, m, want] of bad)
    void it(`rejects ${name}`, () => {
      const { errors } = run(m);
      assert.ok(
        errors.some((e) => want.test(e)),
        errors.join("\n"),
      );
    });

  void it("FractionalPercent denominators", () => {
    assert.equal(fractionOf({ numerator: 5, denominator: "TEN_THOUSAND" }), 0.0005);
    assert.equal(fractionOf({ numerator: 300 }), 1);
    assert.equal(fractionOf(undefined), 0);
  });
});

void describe("typed_per_filter_config of a virtual host: the local rate limit filter", () => {
  const packed = (o: Record<string, unknown>) => {
    const t = envoyTypes().LocalRateLimit;
    return { typeUrl: LOCAL_RATE_LIMIT_TYPE_URL, value: t.encode(t.fromObject(o)).finish() };
  };
  const run = (o: Record<string, unknown>) => {
    const d = new Decoding("rt");
    return { p: perFilterRateLimit(d, { [RATE_LIMIT_FILTER]: packed(o) }, "tpfc"), errors: d.errors.map((e) => `${e.field}: ${e.reason}`) };
  };
  const ALL = { defaultValue: { numerator: 100 }, runtimeKey: "k" };

  void it("the bucket, enabled/enforced fractions, status and headers", () => {
    const { p, errors } = run({
      statPrefix: "s",
      tokenBucket: { maxTokens: 10, tokensPerFill: { value: 5 }, fillInterval: { seconds: 2 } },
      filterEnabled: ALL,
      filterEnforced: { defaultValue: { numerator: 50 }, runtimeKey: "e" },
      status: { code: 503 },
      enableXRatelimitHeaders: "DRAFT_VERSION_03",
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(p, {
      maxTokens: 10,
      tokensPerFill: 5,
      fillIntervalMs: 2000,
      enabled: 1,
      enforced: 0.5,
      status: 503,
      xRateLimitHeaders: true,
    });
  });

  void it("Envoy's defaults: 1 token per fill, 429, enabled and enforced 0%", () => {
    const { p } = run({ statPrefix: "s", tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } } });
    assert.deepEqual(p, {
      maxTokens: 1,
      tokensPerFill: 1,
      fillIntervalMs: 1000,
      enabled: 0,
      enforced: 0,
      status: 429,
      xRateLimitHeaders: false,
    });
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["no token bucket", { statPrefix: "s" }, /token_bucket: required/],
    [
      "descriptors",
      { statPrefix: "s", tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } }, descriptors: [{ entries: [] }] },
      /descriptors: not supported/,
    ],
    [
      "a 2xx status",
      { statPrefix: "s", tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } }, status: { code: 200 } },
      /status\.code: 200 must be/,
    ],
    ["a zero fill interval", { statPrefix: "s", tokenBucket: { maxTokens: 1, fillInterval: {} } }, /fill_interval: required/],
  ];
  for (const [name, o, want] of bad)
    void it(`rejects ${name}`, () => {
      const { errors } = run(o);
      assert.ok(
        errors.some((e) => want.test(e)),
        errors.join("\n"),
      );
    });
});
