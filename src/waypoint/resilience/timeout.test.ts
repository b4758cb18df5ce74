/** Table tests: the request timeout Envoy's router computes (route timeout, max_grpc_timeout, grpc-timeout, per-try). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseGrpcTimeout, requestTimeouts } from "./timeout.js";

void describe("parseGrpcTimeout", () => {
  const cases: [unknown, number | undefined][] = [
    ["1S", 1000],
    ["250m", 250],
    ["2M", 120_000],
    ["1H", 3_600_000],
    ["1500u", 2],
    ["100n", 1],
    ["123456789S", undefined],
    ["1s", undefined],
    ["", undefined],
    [undefined, undefined],
  ];
  for (const [v, want] of cases) void it(`${String(v)} -> ${String(want)}`, () => assert.equal(parseGrpcTimeout(v), want));
});

void describe("requestTimeouts", () => {
  const cases: [string, Parameters<typeof requestTimeouts>, ReturnType<typeof requestTimeouts>][] = [
    ["HTTP: the route timeout", [{ timeoutMs: 500 }, false, {}], { globalMs: 500, perTryMs: 0 }],
    ["HTTP: 0 is none", [{ timeoutMs: 0 }, false, {}], { globalMs: 0, perTryMs: 0 }],
    [
      "HTTP ignores grpc-timeout",
      [{ timeoutMs: 500, maxGrpcTimeoutMs: 500 }, false, { "grpc-timeout": "1S" }],
      { globalMs: 500, perTryMs: 0 },
    ],
    [
      "gRPC without max_grpc_timeout: the route timeout",
      [{ timeoutMs: 500 }, true, { "grpc-timeout": "100m" }],
      { globalMs: 500, perTryMs: 0, grpcTimeoutHeader: "500m" },
    ],
    [
      "gRPC, max 0: the header",
      [{ timeoutMs: 0, maxGrpcTimeoutMs: 0 }, true, { "grpc-timeout": "2S" }],
      { globalMs: 2000, perTryMs: 0, grpcTimeoutHeader: "2000m" },
    ],
    ["gRPC, max 0, no header: none", [{ timeoutMs: 0, maxGrpcTimeoutMs: 0 }, true, {}], { globalMs: 0, perTryMs: 0 }],
    [
      "gRPC, header below the max",
      [{ timeoutMs: 1000, maxGrpcTimeoutMs: 1000 }, true, { "grpc-timeout": "300m" }],
      { globalMs: 300, perTryMs: 0, grpcTimeoutHeader: "300m" },
    ],
    [
      "gRPC, header above the max: capped",
      [{ timeoutMs: 1000, maxGrpcTimeoutMs: 1000 }, true, { "grpc-timeout": "5S" }],
      { globalMs: 1000, perTryMs: 0, grpcTimeoutHeader: "1000m" },
    ],
    [
      "gRPC, no header, max set: the max",
      [{ timeoutMs: 1000, maxGrpcTimeoutMs: 1000 }, true, {}],
      { globalMs: 1000, perTryMs: 0, grpcTimeoutHeader: "1000m" },
    ],
    ["per-try shorter than the whole", [{ timeoutMs: 1000, perTryTimeoutMs: 200 }, false, {}], { globalMs: 1000, perTryMs: 200 }],
    ["per-try not shorter: ignored", [{ timeoutMs: 1000, perTryTimeoutMs: 1000 }, false, {}], { globalMs: 1000, perTryMs: 0 }],
    ["per-try without a global timeout", [{ timeoutMs: 0, perTryTimeoutMs: 200 }, false, {}], { globalMs: 0, perTryMs: 200 }],
  ];
  for (const [name, args, want] of cases) void it(name, () => assert.deepEqual(requestTimeouts(...args), want));
});
