import { test } from "node:test";
import assert from "node:assert/strict";
import { interpretTokenReview, type TokenReviewStatus } from "./tokenreview.js";

const sa = (extra?: Record<string, string[]>, audiences = ["istio-ca"]): TokenReviewStatus => ({
  authenticated: true,
  audiences,
  user: { username: "system:serviceaccount:istio-system:ztunnel", ...(extra ? { extra } : {}) },
});

void test("tokenreview: accepts service-account tokens for the audience and reads pod and node", () => {
  const cases: Array<[string, TokenReviewStatus, object]> = [
    ["unbound token", sa(), { namespace: "istio-system", serviceAccount: "ztunnel" }],
    [
      "pod-bound token without node info (older API servers)",
      sa({ "authentication.kubernetes.io/pod-name": ["zt-1"], "authentication.kubernetes.io/pod-uid": ["u1"] }),
      { namespace: "istio-system", serviceAccount: "ztunnel", pod: { namespace: "istio-system", name: "zt-1", uid: "u1" } },
    ],
    [
      "pod-bound token with node name",
      sa({
        "authentication.kubernetes.io/pod-name": ["zt-1"],
        "authentication.kubernetes.io/pod-uid": ["u1"],
        "authentication.kubernetes.io/node-name": ["node-a"],
      }),
      { namespace: "istio-system", serviceAccount: "ztunnel", pod: { namespace: "istio-system", name: "zt-1", uid: "u1" }, node: "node-a" },
    ],
    ["one of several audiences suffices", sa(undefined, ["other", "istio-ca"]), { namespace: "istio-system", serviceAccount: "ztunnel" }],
  ];
  for (const [name, status, want] of cases) {
    const r = interpretTokenReview(status, ["istio-ca"]);
    assert.ok(r.ok, `${name}: ${r.ok ? "" : r.error.message}`);
    assert.deepEqual(r.value, want, name);
  }
});

void test("tokenreview: rejects with a reason", () => {
  const cases: Array<[string, TokenReviewStatus | undefined, RegExp]> = [
    ["no status", undefined, /token rejected by the API server$/],
    ["not authenticated", { authenticated: false, error: "invalid bearer token" }, /rejected by the API server: invalid bearer token/],
    ["wrong audience", sa(undefined, ["kubernetes.default.svc"]), /not valid for audience istio-ca \(valid for: kubernetes.default.svc\)/],
    ["no audience echoed", sa(undefined, []), /none reported/],
    [
      "a user, not a service account",
      { authenticated: true, audiences: ["istio-ca"], user: { username: "admin" } },
      /does not belong to a service account/,
    ],
    ["pod name without uid", sa({ "authentication.kubernetes.io/pod-name": ["zt-1"] }), /names a pod without its uid/],
  ];
  for (const [name, status, why] of cases) {
    const r = interpretTokenReview(status, ["istio-ca"]);
    assert.ok(!r.ok, name);
    assert.match(r.error.message, why, name);
  }
});
