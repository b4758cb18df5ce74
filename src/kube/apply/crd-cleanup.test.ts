import { test } from "node:test";
import assert from "node:assert/strict";
import { CRD_CLEANUP_FINALIZER, CrdRequeuePlan, crdCleanupPending, terminatingDetail } from "./crd-cleanup.js";
import type { KubeObject } from "./apply.js";

const crd = (meta: Record<string, unknown>, status?: unknown): KubeObject =>
  ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "gatewayclasses.gateway.networking.k8s.io", ...meta },
    ...(status ? { status } : {}),
  }) as KubeObject;
const deleted = crd({ deletionTimestamp: "2026-12-02T19:00:00Z", finalizers: [CRD_CLEANUP_FINALIZER] });

void test("a CRD's cleanup is pending only when deleted with the API server's cleanup finalizer", () => {
  assert.equal(crdCleanupPending(deleted), true);
  assert.equal(crdCleanupPending(crd({ finalizers: [CRD_CLEANUP_FINALIZER] })), false, "not deleted");
  assert.equal(crdCleanupPending(crd({ deletionTimestamp: "2026-12-02T19:00:00Z" })), false, "finalizer already removed");
  assert.equal(crdCleanupPending(crd({ deletionTimestamp: "2026-12-02T19:00:00Z", finalizers: ["example.com/hold"] })), false);
  assert.equal(crdCleanupPending({ ...deleted, kind: "Namespace" }), false, "only CRDs");
});

void test("the terminating detail carries the CRD's Terminating condition", () => {
  assert.equal(terminatingDetail(deleted), "terminating");
  const s = {
    conditions: [
      { type: "Established", status: "True", reason: "InitialNamesAccepted" },
      { type: "Terminating", status: "True", reason: "InstanceDeletionInProgress", message: "CustomResource deletion is in progress" },
    ],
  };
  assert.equal(
    terminatingDetail(crd(deleted.metadata, s)),
    "terminating (InstanceDeletionInProgress: CustomResource deletion is in progress)",
  );
  assert.equal(
    terminatingDetail(crd(deleted.metadata, { conditions: [{ type: "Terminating", reason: "NeverEstablished" }] })),
    "terminating (NeverEstablished)",
  );
});

void test("a terminating CRD is nudged after it was seen pending for the delay, then once per delay", () => {
  const plan = new CrdRequeuePlan(10_000);
  const ref = "CustomResourceDefinition x";
  assert.equal(plan.due(ref, deleted, 1_000), false, "first sight");
  assert.equal(plan.due(ref, deleted, 10_999), false);
  assert.equal(plan.due(ref, deleted, 11_000), true, "10 s after first sight");
  assert.equal(plan.due(ref, deleted, 12_000), false, "just nudged");
  assert.equal(plan.due(ref, deleted, 20_999), false);
  assert.equal(plan.due(ref, deleted, 21_000), true, "10 s after the last nudge");
});

void test("a CRD that is not pending (or no longer) is never nudged, and its clock restarts", () => {
  const plan = new CrdRequeuePlan(10_000);
  const ref = "CustomResourceDefinition x";
  const live = crd({ finalizers: [CRD_CLEANUP_FINALIZER] });
  assert.equal(plan.due(ref, live, 0), false);
  assert.equal(plan.due(ref, live, 60_000), false);
  assert.equal(plan.due(ref, deleted, 60_000), false, "first seen pending now");
  assert.equal(plan.due(ref, live, 75_000), false);
  assert.equal(plan.due(ref, deleted, 76_000), false, "pending again: a fresh 10 s");
  assert.equal(plan.due(ref, deleted, 86_000), true);
});
