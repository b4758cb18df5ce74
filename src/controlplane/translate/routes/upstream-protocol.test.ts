import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../../kube/object.js";
import { effectivePolicy } from "./traffic-policy.js";
import { type HttpPoolSettings, type IstioProtocol, httpPoolOf as poolOf, istioProtocol, upstreamProtocol } from "./upstream-protocol.js";

/** The pool for (port, subset) under DestinationRule `dr`, merged as the translator merges it. */
const httpPoolOf = (dr: KubeObject | undefined, port: number, subset: string) =>
  poolOf(effectivePolicy(dr?.spec as Record<string, unknown> | undefined, port, subset));

void describe("istioProtocol (Istio's ConvertProtocol)", () => {
  const cases: Array<[{ port: number; name?: string; protocol?: string; appProtocol?: string }, IstioProtocol]> = [
    [{ port: 80, name: "http" }, "HTTP"],
    [{ port: 80, name: "http-web" }, "HTTP"],
    [{ port: 80, name: "HTTP2-x" }, "HTTP2"],
    [{ port: 9000, name: "grpc" }, "GRPC"],
    [{ port: 9000, name: "grpc-web-ui" }, "GRPC-Web"],
    [{ port: 80, name: "web" }, "UnsupportedProtocol"],
    [{ port: 80 }, "UnsupportedProtocol"],
    [{ port: 3306 }, "TCP"],
    [{ port: 3306, name: "http" }, "HTTP"],
    [{ port: 80, name: "http", appProtocol: "kubernetes.io/h2c" }, "HTTP2"],
    [{ port: 80, name: "grpc", appProtocol: "http" }, "HTTP"],
    [{ port: 80, appProtocol: "kubernetes.io/ws" }, "HTTP"],
    [{ port: 80, appProtocol: "h2c" }, "UnsupportedProtocol"],
    [{ port: 80, name: "redis" }, "Redis"],
    [{ port: 80, name: "http", protocol: "UDP" }, "UDP"],
  ];
  for (const [port, want] of cases) void it(`${JSON.stringify(port)} -> ${want}`, () => assert.equal(istioProtocol(port), want));
});

void describe("upstreamProtocol (setUpstreamProtocol, useClientProtocol, applyH2Upgrade)", () => {
  const cases: Array<[IstioProtocol, HttpPoolSettings | undefined, string]> = [
    ["HTTP", undefined, "none (HTTP/1.1)"],
    ["HTTP2", undefined, "HTTP2"],
    ["GRPC", undefined, "HTTP2"],
    ["GRPC-Web", undefined, "HTTP2"],
    ["UnsupportedProtocol", undefined, "DOWNSTREAM"],
    ["TCP", undefined, "none (HTTP/1.1)"],
    ["HTTP", { h2UpgradePolicy: "UPGRADE" }, "HTTP2"],
    ["HTTP", { h2UpgradePolicy: "DO_NOT_UPGRADE" }, "none (HTTP/1.1)"],
    ["HTTP", { h2UpgradePolicy: "DEFAULT" }, "none (HTTP/1.1)"],
    ["UnsupportedProtocol", { h2UpgradePolicy: "UPGRADE" }, "DOWNSTREAM"],
    ["HTTP2", { h2UpgradePolicy: "DO_NOT_UPGRADE" }, "HTTP2"],
    ["HTTP", { useClientProtocol: true }, "DOWNSTREAM"],
    ["GRPC", { useClientProtocol: true }, "DOWNSTREAM"],
    ["HTTP", { useClientProtocol: true, h2UpgradePolicy: "UPGRADE" }, "DOWNSTREAM"],
    ["TCP", { h2UpgradePolicy: "UPGRADE" }, "HTTP2"],
  ];
  for (const [proto, pool, want] of cases)
    void it(`${proto} ${JSON.stringify(pool ?? {})} -> ${want}`, () =>
      assert.equal(upstreamProtocol(proto, pool) ?? "none (HTTP/1.1)", want));
});

void describe("httpPoolOf (which connectionPool applies)", () => {
  const dr = (spec: Record<string, unknown>): KubeObject =>
    ({ apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "d", namespace: "ns" }, spec }) as KubeObject;
  const up = { connectionPool: { http: { h2UpgradePolicy: "UPGRADE" } } };
  const no = { connectionPool: { http: { h2UpgradePolicy: "DO_NOT_UPGRADE" } } };
  void it("none without a rule or a pool", () => {
    assert.equal(httpPoolOf(undefined, 80, ""), undefined);
    assert.equal(httpPoolOf(dr({ host: "h" }), 80, ""), undefined);
  });
  void it("the top-level trafficPolicy", () =>
    assert.deepEqual(httpPoolOf(dr({ trafficPolicy: up }), 80, ""), { h2UpgradePolicy: "UPGRADE" }));
  void it("a matching port level replaces it, another port's does not", () => {
    const d = dr({ trafficPolicy: { ...up, portLevelSettings: [{ port: { number: 80 }, ...no }] } });
    assert.deepEqual(httpPoolOf(d, 80, ""), { h2UpgradePolicy: "DO_NOT_UPGRADE" });
    assert.deepEqual(httpPoolOf(d, 81, ""), { h2UpgradePolicy: "UPGRADE" });
  });
  void it("the subset's policy replaces the rule's for that subset's cluster only", () => {
    const d = dr({ trafficPolicy: no, subsets: [{ name: "v2", labels: { v: "2" }, trafficPolicy: up }] });
    assert.deepEqual(httpPoolOf(d, 80, "v2"), { h2UpgradePolicy: "UPGRADE" });
    assert.deepEqual(httpPoolOf(d, 80, ""), { h2UpgradePolicy: "DO_NOT_UPGRADE" });
  });
  void it("useClientProtocol", () =>
    assert.deepEqual(httpPoolOf(dr({ trafficPolicy: { connectionPool: { http: { useClientProtocol: true } } } }), 80, ""), {
      useClientProtocol: true,
    }));
});
