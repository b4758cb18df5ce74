import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { conditions, kubeTime, sameJson } from "./conditions.js";
import { gatewayClassStatus, gatewayStatus } from "./gateway-status.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-01T00:05:00Z";

function gateway(listeners: unknown[] = [{ name: "mesh", port: 15008, protocol: "HBONE" }], status?: unknown, generation = 2): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "waypoint", namespace: "shop", generation },
    spec: { gatewayClassName: "istio-waypoint", listeners },
    ...(status ? { status } : {}),
  };
}
const service = (clusterIPs: string[]): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "waypoint", namespace: "shop" },
  spec: { clusterIP: clusterIPs[0] ?? "", clusterIPs },
});
const cond = (s: Obj, type: string): Obj => (s.conditions as Obj[]).find((c) => c.type === type)!;

void describe("gatewayStatus", () => {
  const rows: Array<[string, KubeObject | undefined, string, string, unknown[]]> = [
    ["no Service yet", undefined, "False", "AddressNotUsable", []],
    ["Service without cluster IP", service([]), "False", "AddressNotUsable", []],
    [
      "Service with a cluster IP",
      service(["198.19.240.10"]),
      "True",
      "Programmed",
      [
        { type: "IPAddress", value: "198.19.240.10" },
        { type: "Hostname", value: "waypoint.shop.svc.cluster.local" },
      ],
    ],
    [
      "dual stack",
      service(["198.19.240.10", "fd00::a"]),
      "True",
      "Programmed",
      [
        { type: "IPAddress", value: "198.19.240.10" },
        { type: "IPAddress", value: "fd00::a" },
        { type: "Hostname", value: "waypoint.shop.svc.cluster.local" },
      ],
    ],
  ];
  for (const [name, svc, programmed, reason, addresses] of rows)
    void it(name, () => {
      const s = gatewayStatus({ gateway: gateway(), service: svc, clusterDomain: "cluster.local", now: T0 });
      assert.equal(cond(s, "Accepted").status, "True");
      assert.equal(cond(s, "Programmed").status, programmed);
      assert.equal(cond(s, "Programmed").reason, reason);
      assert.equal(cond(s, "Accepted").observedGeneration, 2);
      assert.deepEqual(s.addresses ?? [], addresses);
    });

  void it("listeners: HBONE on 15008 accepted without route kinds; anything else UnsupportedProtocol", () => {
    const s = gatewayStatus({
      gateway: gateway([
        { name: "mesh", port: 15008, protocol: "HBONE" },
        { name: "http", port: 80, protocol: "HTTP" },
      ]),
      service: undefined,
      clusterDomain: "cluster.local",
      now: T0,
    });
    const [mesh, http] = s.listeners as Obj[];
    assert.deepEqual([mesh!.name, mesh!.attachedRoutes, mesh!.supportedKinds], ["mesh", 0, []]);
    assert.equal(cond(mesh!, "Accepted").status, "True");
    assert.equal(cond(http!, "Accepted").reason, "UnsupportedProtocol");
  });

  void it("ignored fields and unmanaged Gateways are named in Accepted", () => {
    const s = gatewayStatus({
      gateway: gateway(),
      service: undefined,
      clusterDomain: "cluster.local",
      ignored: [{ field: "spec.infrastructure.parametersRef", reason: "not supported" }],
      unmanaged: "spec.addresses names more than one address",
      now: T0,
    });
    assert.match(cond(s, "Accepted").message, /^Resource accepted; spec.infrastructure.parametersRef ignored: not supported; not deployed/);
  });

  void it("recomputing from its own output is a fixed point (no rewrite), a change moves only that condition's time", () => {
    const first = gatewayStatus({ gateway: gateway(), service: undefined, clusterDomain: "cluster.local", now: T0 });
    const again = gatewayStatus({ gateway: gateway(undefined, first), service: undefined, clusterDomain: "cluster.local", now: T1 });
    assert.ok(sameJson(first, again));
    const programmed = gatewayStatus({
      gateway: gateway(undefined, first),
      service: service(["198.19.240.10"]),
      clusterDomain: "cluster.local",
      now: T1,
    });
    assert.equal(cond(programmed, "Programmed").lastTransitionTime, T1);
    assert.equal(cond(programmed, "Accepted").lastTransitionTime, T0);
    assert.equal((programmed.listeners as Obj[])[0]!.conditions[0].lastTransitionTime, T0);
  });

  void it("the CRD's default Pending conditions are replaced", () => {
    const pending = {
      conditions: [
        {
          type: "Accepted",
          status: "Unknown",
          reason: "Pending",
          message: "Waiting for controller",
          lastTransitionTime: "1970-01-01T00:00:00Z",
        },
      ],
    };
    const s = gatewayStatus({ gateway: gateway(undefined, pending), service: undefined, clusterDomain: "cluster.local", now: T1 });
    assert.deepEqual([cond(s, "Accepted").status, cond(s, "Accepted").lastTransitionTime], ["True", T1]);
  });
});

void describe("gatewayClassStatus and conditions", () => {
  void it("Accepted by Istio's message, stable", () => {
    const gc: KubeObject = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "istio-waypoint", generation: 1 },
    };
    const s = gatewayClassStatus(gc, T0);
    assert.deepEqual(s.conditions, [
      {
        type: "Accepted",
        status: "True",
        reason: "Accepted",
        message: "Handled by Istio controller",
        observedGeneration: 1,
        lastTransitionTime: T0,
      },
    ]);
    assert.ok(sameJson(gatewayClassStatus({ ...gc, status: s }, T1), s));
  });

  void it("observedGeneration follows the object's generation", () => {
    const prev = conditions([{ type: "A", status: "True", reason: "R", message: "m" }], undefined, 1, T0);
    const next = conditions([{ type: "A", status: "True", reason: "R", message: "m" }], prev, 2, T1);
    assert.deepEqual([next[0]!.observedGeneration, next[0]!.lastTransitionTime], [2, T0]);
  });

  void it("sameJson ignores key order and undefined, not array order", () => {
    assert.ok(sameJson({ a: 1, b: [1, 2], c: undefined }, { b: [1, 2], a: 1 }));
    assert.ok(!sameJson({ b: [1, 2] }, { b: [2, 1] }));
    assert.ok(!sameJson({ a: 1 }, { a: 1, b: null }));
  });

  void it("kubeTime drops milliseconds", () => {
    assert.equal(kubeTime(new Date("2026-03-04T05:06:07.891Z")), "2026-03-04T05:06:07Z");
  });
});
