import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { appProtocolOf, canonicalService, isEnrolled, parseUseWaypoint, workloadNameAndType } from "./mesh-labels.js";
import { pod } from "../../../test/config/objects.js";

void describe("isEnrolled", () => {
  const cases: Array<[string, Record<string, string>, Record<string, string>, Record<string, string>, boolean]> = [
    ["a pod in an ambient namespace", {}, {}, { "istio.io/dataplane-mode": "ambient" }, true],
    ["a pod in a plain namespace", {}, {}, {}, false],
    ["a pod labelled ambient in a plain namespace", { "istio.io/dataplane-mode": "ambient" }, {}, {}, true],
    [
      "a pod opting out with none in an ambient namespace",
      { "istio.io/dataplane-mode": "none" },
      {},
      { "istio.io/dataplane-mode": "ambient" },
      false,
    ],
    [
      "a pod with a sidecar in an ambient namespace",
      {},
      { "sidecar.istio.io/status": "{}" },
      { "istio.io/dataplane-mode": "ambient" },
      false,
    ],
    ["a pod the CNI marked as redirected", {}, { "ambient.istio.io/redirection": "enabled" }, {}, true],
    ["a waypoint pod that tunnels natively", { "networking.istio.io/tunnel": "http" }, {}, {}, true],
    ["a namespace with another mode", {}, {}, { "istio.io/dataplane-mode": "sidecar" }, false],
  ];
  for (const [name, labels, ann, nsLabels, want] of cases)
    void it(`${name}: ${want ? "HBONE" : "NONE"}`, () => assert.equal(isEnrolled(labels, ann, nsLabels, ["10.0.0.5"]), want));
  const AMBIENT = { "istio.io/dataplane-mode": "ambient" };
  const byAddress: Array<[string, string[], Record<string, string>, Record<string, string>, boolean]> = [
    ["an enrolled IPv4 pod", ["10.0.0.5"], {}, {}, true],
    ["an enrolled dual-stack pod (captured in both families)", ["10.0.0.5", "fd00::5"], {}, {}, true],
    ["an enrolled IPv6-only pod", ["fd00::5"], {}, {}, true],
    ["a pod without addresses", [], {}, {}, false],
    ["a dual-stack pod the CNI marked as redirected", ["10.0.0.5", "fd00::5"], { "ambient.istio.io/redirection": "enabled" }, {}, true],
    ["a dual-stack waypoint that tunnels natively", ["10.0.0.5", "fd00::5"], {}, { "networking.istio.io/tunnel": "http" }, true],
  ];
  for (const [name, ips, ann, labels, want] of byAddress)
    void it(`${name}: ${want ? "HBONE" : "NONE"}`, () => assert.equal(isEnrolled(labels, ann, AMBIENT, ips), want));
});

void describe("canonicalService", () => {
  const cases: Array<[string, Record<string, string>, { name: string; revision: string }]> = [
    [
      "the istio labels first",
      {
        "service.istio.io/canonical-name": "cn",
        "app.kubernetes.io/name": "k",
        app: "a",
        "service.istio.io/canonical-revision": "r1",
        version: "v1",
      },
      { name: "cn", revision: "r1" },
    ],
    [
      "app.kubernetes.io labels before app/version",
      { "app.kubernetes.io/name": "k", app: "a", "app.kubernetes.io/version": "2", version: "v1" },
      { name: "k", revision: "2" },
    ],
    ["app and version", { app: "a", version: "v1" }, { name: "a", revision: "v1" }],
    ["the workload name and latest without labels", {}, { name: "reviews", revision: "latest" }],
  ];
  for (const [name, labels, want] of cases) void it(`uses ${name}`, () => assert.deepEqual(canonicalService(labels, "reviews"), want));
});

void describe("workloadNameAndType", () => {
  const cases: Array<[string, Parameters<typeof pod>[0], { name: string; type: string }]> = [
    [
      "a Deployment from its ReplicaSet and pod-template-hash",
      { name: "reviews-5d7f-abcde", labels: { "pod-template-hash": "5d7f" }, owner: { kind: "ReplicaSet", name: "reviews-5d7f" } },
      { name: "reviews", type: "DEPLOYMENT" },
    ],
    [
      "a ReplicaSet without the hash label as the pod",
      { name: "rs-x-1", owner: { kind: "ReplicaSet", name: "rs-x" } },
      { name: "rs-x-1", type: "POD" },
    ],
    [
      "a CronJob from its Job's timestamp suffix",
      { name: "backup-28000000-x", owner: { kind: "Job", name: "backup-28000000" } },
      { name: "backup", type: "CRONJOB" },
    ],
    ["a Job", { name: "migrate-x", owner: { kind: "Job", name: "migrate" } }, { name: "migrate", type: "JOB" }],
    ["a StatefulSet pod as the pod", { name: "db-0", owner: { kind: "StatefulSet", name: "db" } }, { name: "db-0", type: "POD" }],
    ["a bare pod", { name: "debug" }, { name: "debug", type: "POD" }],
  ];
  for (const [name, f, want] of cases) void it(`names ${name}`, () => assert.deepEqual(workloadNameAndType(pod(f)), want));
});

void describe("appProtocolOf", () => {
  const cases: Array<[Parameters<typeof appProtocolOf>[0], string]> = [
    [{ name: "http" }, "HTTP11"],
    [{ name: "http-web" }, "HTTP11"],
    [{ name: "HTTP2-x" }, "HTTP2"],
    [{ name: "grpc-api" }, "GRPC"],
    [{ name: "grpc-web" }, "UNKNOWN"],
    [{ name: "tcp-db" }, "TCP"],
    [{ name: "tls-x" }, "TLS"],
    [{ name: "https" }, "TLS"],
    [{ name: "httpbin" }, "UNKNOWN"],
    [{ name: "web" }, "UNKNOWN"],
    [{ name: "tcp", appProtocol: "http" }, "HTTP11"],
    [{ name: "x", appProtocol: "kubernetes.io/h2c" }, "HTTP2"],
    [{ name: "x", appProtocol: "kubernetes.io/ws" }, "HTTP11"],
    [{ name: "http", protocol: "UDP" }, "UNKNOWN"],
    [{}, "UNKNOWN"],
  ];
  for (const [port, want] of cases) void it(`${JSON.stringify(port)} -> ${want}`, () => assert.equal(appProtocolOf(port), want));
});

void describe("parseUseWaypoint", () => {
  const cases: Array<[Record<string, string>, unknown]> = [
    [{}, undefined],
    [{ "istio.io/use-waypoint": "wp" }, { kind: "named", namespace: "shop", name: "wp" }],
    [{ "istio.io/use-waypoint": "infra/wp" }, { kind: "named", namespace: "infra", name: "wp" }],
    [{ "istio.io/use-waypoint": "none" }, { kind: "none" }],
    [{ "istio.io/use-waypoint": "infra/none" }, { kind: "none" }],
    [{ "istio.io/use-waypoint": "a/b/c" }, undefined],
    [
      { "istio.io/use-waypoint": "wp", "istio.io/use-waypoint-namespace": "infra" },
      { kind: "named", namespace: "infra", name: "wp" },
    ],
  ];
  for (const [labels, want] of cases) void it(`${JSON.stringify(labels)}`, () => assert.deepEqual(parseUseWaypoint(labels, "shop"), want));
});
