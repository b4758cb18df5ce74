/** Table tests: Istio's translation of timeouts, retries and faults (istiod's route.go, retry.go, gateway conversion.go). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_RETRY_POLICY,
  FAULT_TYPE,
  faultConfig,
  gatewayRetryAndTimeout,
  parseRetryOn,
  retryPolicy,
  timeoutFields,
} from "./resilience.js";

const PREV = DEFAULT_RETRY_POLICY.retryHostPredicate;

void describe("VirtualService retries -> RetryPolicy (Istio's ConvertPolicy)", () => {
  const cases: [string, Record<string, unknown> | undefined, unknown][] = [
    ["absent: Istio's default", undefined, DEFAULT_RETRY_POLICY],
    ["attempts 0 disables retries", { attempts: 0 }, undefined],
    [
      "attempts only: the default conditions, previous hosts",
      { attempts: 3 },
      {
        retryOn: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        numRetries: { value: 3 },
        hostSelectionRetryMaxAttempts: 5,
        retryHostPredicate: PREV,
      },
    ],
    [
      "status codes in retryOn become retriable_status_codes and add retriable-status-codes",
      { attempts: 2, retryOn: "gateway-error,503, 504" },
      {
        retryOn: "gateway-error,retriable-status-codes",
        numRetries: { value: 2 },
        hostSelectionRetryMaxAttempts: 5,
        retriableStatusCodes: [503, 504],
        retryHostPredicate: PREV,
      },
    ],
    [
      "perTryTimeout, backoff, retryIgnorePreviousHosts false, retryRemoteLocalities",
      {
        attempts: 1,
        retryOn: "5xx",
        perTryTimeout: "250ms",
        backoff: "10ms",
        retryIgnorePreviousHosts: false,
        retryRemoteLocalities: true,
      },
      {
        retryOn: "5xx",
        numRetries: { value: 1 },
        hostSelectionRetryMaxAttempts: 5,
        perTryTimeout: { seconds: 0, nanos: 250_000_000 },
        retryPriority: {
          name: "envoy.retry_priorities.previous_priorities",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
            updateFrequency: 2,
          },
        },
        retryBackOff: { baseInterval: { seconds: 0, nanos: 10_000_000 } },
      },
    ],
  ];
  for (const [name, input, want] of cases) void it(name, () => assert.deepEqual(retryPolicy(input), want));

  void it("parseRetryOn splits codes from conditions", () => {
    assert.deepEqual(parseRetryOn("5xx, 409 ,reset,"), { retryOn: "5xx,reset", codes: [409] });
  });
});

void describe("timeouts (Istio's setTimeout)", () => {
  void it("none -> 0s for both timeout and max_grpc_timeout; a value -> both", () => {
    assert.deepEqual(timeoutFields(undefined), { timeout: { seconds: 0 }, maxGrpcTimeout: { seconds: 0 } });
    assert.deepEqual(timeoutFields({ seconds: 3 }), { timeout: { seconds: 3 }, maxGrpcTimeout: { seconds: 3 } });
  });
});

void describe("HTTPRoute retry and timeouts (Istio's Gateway API conversion)", () => {
  const cases: [string, Record<string, unknown>, ReturnType<typeof gatewayRetryAndTimeout>][] = [
    ["nothing", {}, { retries: undefined, timeout: undefined }],
    ["timeouts.request", { timeouts: { request: "2s" } }, { retries: undefined, timeout: "2s" }],
    ["0s request timeout: none", { timeouts: { request: "0s" } }, { retries: undefined, timeout: undefined }],
    [
      "backendRequest without retry replaces the request timeout",
      { timeouts: { request: "5s", backendRequest: "1s" } },
      { retries: undefined, timeout: "1s" },
    ],
    [
      "retry: attempts default 2, codes appended, backoff; backendRequest -> perTryTimeout",
      { retry: { codes: [500, 503], backoff: "100ms" }, timeouts: { request: "5s", backendRequest: "1s" } },
      {
        retries: {
          attempts: 2,
          retryOn: "connect-failure,refused-stream,unavailable,cancelled,500,503",
          backoff: "100ms",
          perTryTimeout: "1s",
        },
        timeout: "5s",
      },
    ],
    ["retry attempts 0: no retryOn", { retry: { attempts: 0 } }, { retries: { attempts: 0, retryOn: "" }, timeout: undefined }],
  ];
  for (const [name, rule, want] of cases) void it(name, () => assert.deepEqual(gatewayRetryAndTimeout(rule), want));

  void it("the converted retry becomes Istio's RetryPolicy with retriable_status_codes", () => {
    const p = retryPolicy(gatewayRetryAndTimeout({ retry: { attempts: 4, codes: [503] } }).retries);
    assert.equal(p?.retryOn, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes");
    assert.deepEqual(p?.retriableStatusCodes, [503]);
    assert.deepEqual(p?.numRetries, { value: 4 });
    assert.equal(retryPolicy(gatewayRetryAndTimeout({ retry: { attempts: 0 } }).retries), undefined);
  });
});

void describe("VirtualService fault -> HTTPFault (Istio's TranslateFault)", () => {
  const cases: [string, Record<string, unknown>, unknown, string[]][] = [
    [
      "delay with percentage; abort with httpStatus and percentage",
      { delay: { fixedDelay: "2s", percentage: { value: 12.5 } }, abort: { httpStatus: 503, percentage: { value: 100 } } },
      {
        "@type": FAULT_TYPE,
        delay: { fixedDelay: { seconds: 2, nanos: 0 }, percentage: { numerator: 125_000, denominator: "MILLION" } },
        abort: { httpStatus: 503, percentage: { numerator: 1_000_000, denominator: "MILLION" } },
      },
      [],
    ],
    [
      "the deprecated integer percent; an abort without percentage keeps none (0%: never fires, as in Istio)",
      { delay: { fixedDelay: "1s", percent: 50 }, abort: { grpcStatus: "UNAVAILABLE" } },
      {
        "@type": FAULT_TYPE,
        delay: { fixedDelay: { seconds: 1, nanos: 0 }, percentage: { numerator: 50, denominator: "HUNDRED" } },
        abort: { grpcStatus: 14 },
      },
      [],
    ],
    [
      "a delay without percentage is 0%",
      { delay: { fixedDelay: "1s" } },
      { "@type": FAULT_TYPE, delay: { fixedDelay: { seconds: 1, nanos: 0 }, percentage: { numerator: 0, denominator: "HUNDRED" } } },
      [],
    ],
    ["an abort without an error type injects nothing (warned)", { abort: { percentage: { value: 10 } } }, undefined, ["abort"]],
  ];
  for (const [name, fault, want, warned] of cases)
    void it(name, () => {
      const warnings: string[] = [];
      assert.deepEqual(
        faultConfig(fault, (f) => warnings.push(f)),
        want,
      );
      assert.deepEqual(warnings, warned);
    });
});
