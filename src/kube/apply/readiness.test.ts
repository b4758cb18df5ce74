import { test } from "node:test";
import assert from "node:assert/strict";
import { readiness } from "./readiness.js";

void test("readiness of Deployments, DaemonSets, CRDs and plain objects", () => {
  const dep = (status: Record<string, unknown>, generation = 2, replicas = 2) => ({
    kind: "Deployment",
    metadata: { generation },
    spec: { replicas },
    status,
  });
  const ds = (status: Record<string, unknown>) => ({ kind: "DaemonSet", metadata: { generation: 1 }, status });
  const cases: [string, Parameters<typeof readiness>[0], boolean, string][] = [
    ["deployment: no status yet", dep({}), false, "waiting for the deployment controller"],
    [
      "deployment: old generation observed",
      dep({ observedGeneration: 1, updatedReplicas: 2, availableReplicas: 2 }),
      false,
      "waiting for the deployment controller",
    ],
    ["deployment: rolling", dep({ observedGeneration: 2, updatedReplicas: 1, availableReplicas: 2, replicas: 3 }), false, "1/2 updated"],
    [
      "deployment: old pod still there",
      dep({ observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 3 }),
      false,
      "2/2 available",
    ],
    [
      "deployment: unavailable",
      dep({ observedGeneration: 2, updatedReplicas: 2, availableReplicas: 1, replicas: 2 }),
      false,
      "1/2 available",
    ],
    ["deployment: ready", dep({ observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 2 }), true, "2/2 available"],
    ["daemonset: no status", ds({}), false, "waiting for the daemonset controller"],
    [
      "daemonset: updating",
      ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 }),
      false,
      "2/3 nodes updated",
    ],
    [
      "daemonset: unavailable",
      ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 }),
      false,
      "2/3 nodes available",
    ],
    [
      "daemonset: ready",
      ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }),
      true,
      "3/3 nodes available",
    ],
    [
      "crd: pending",
      { kind: "CustomResourceDefinition", status: { conditions: [{ type: "Established", status: "False" }] } },
      false,
      "not established yet",
    ],
    [
      "crd: established",
      { kind: "CustomResourceDefinition", status: { conditions: [{ type: "Established", status: "True" }] } },
      true,
      "established",
    ],
    ["service", { kind: "Service" }, true, "exists"],
    ["being deleted", { kind: "Service", metadata: { deletionTimestamp: "2026-01-01T00:00:00Z" } }, false, "being deleted"],
  ];
  for (const [name, obj, ready, detail] of cases) assert.deepEqual(readiness(obj), { ready, detail }, name);
});
