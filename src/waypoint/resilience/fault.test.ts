/** Table tests: which fault applies (delay first, then abort, each its own draw) and gRPC local replies. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { FaultPolicy } from "../envoy/types.js";
import { decideFault, grpcLocalReply, grpcStatusOfHttp } from "./fault.js";

const draws = (...xs: number[]) => {
  let i = 0;
  return () => xs[i++]!;
};

void describe("decideFault", () => {
  const both: FaultPolicy = { delay: { fixedMs: 2000, fraction: 0.5 }, abort: { httpStatus: 503, fraction: 0.1 } };
  const cases: [string, FaultPolicy | undefined, number[], ReturnType<typeof decideFault>][] = [
    ["no fault", undefined, [], { delayMs: 0 }],
    ["delay drawn, abort not", both, [0.2, 0.5], { delayMs: 2000 }],
    ["delay not drawn, abort drawn", both, [0.7, 0.05], { delayMs: 0, abort: { httpStatus: 503 } }],
    ["both", both, [0.49, 0.099], { delayMs: 2000, abort: { httpStatus: 503 } }],
    ["100% always (draws are in [0, 1))", { abort: { grpcStatus: 14, fraction: 1 } }, [0.9999], { delayMs: 0, abort: { grpcStatus: 14 } }],
    [
      "0% (an unset percentage) never",
      { delay: { fixedMs: 5, fraction: 0 }, abort: { httpStatus: 500, fraction: 0 } },
      [0, 0],
      { delayMs: 0 },
    ],
  ];
  for (const [name, f, xs, want] of cases) void it(name, () => assert.deepEqual(decideFault(f, draws(...xs)), want));
});

void describe("gRPC local replies", () => {
  const cases: [number, number][] = [
    [400, 13],
    [401, 16],
    [403, 7],
    [404, 12],
    [429, 14],
    [502, 14],
    [503, 14],
    [504, 14],
    [500, 2],
    [418, 2],
  ];
  for (const [http, grpc] of cases) void it(`HTTP ${http} -> gRPC ${grpc}`, () => assert.equal(grpcStatusOfHttp(http), grpc));
  void it("trailers-only headers with a percent-encoded message", () =>
    assert.deepEqual(grpcLocalReply(14, "upstream request timeout"), {
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": "14",
      "grpc-message": "upstream request timeout",
    }));
  void it("percent-encodes % and non-ASCII", () => assert.equal(grpcLocalReply(2, "100% é")["grpc-message"], "100%25 %C3%A9"));
});
