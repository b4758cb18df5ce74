import { test } from "node:test";
import assert from "node:assert/strict";
import { formatBound, requestLabel, timeoutError } from "./kube-request-timeout.js";
import { isRequestTimeout, KubeError } from "./kube-error.js";

void test("requests are named by method and path, without server or query", () => {
  const cases: [string, string, string][] = [
    ["GET", "https://10.0.0.1:6443/api/v1/namespaces/a/pods/b", "GET /api/v1/namespaces/a/pods/b"],
    [
      "patch",
      "https://h/apis/apps/v1/namespaces/x/deployments/y?fieldManager=weft-install&force=true",
      "PATCH /apis/apps/v1/namespaces/x/deployments/y",
    ],
    ["DELETE", "/api/v1/namespaces/a?x=1", "DELETE /api/v1/namespaces/a"],
  ];
  for (const [method, url, want] of cases) assert.equal(requestLabel(method, url), want, url);
});

void test("bounds read as people say them", () => {
  const cases: [number, string][] = [
    [250, "250 ms"],
    [1000, "1 s"],
    [1500, "1.5 s"],
    [30_000, "30 s"],
  ];
  for (const [ms, want] of cases) assert.equal(formatBound(ms), want);
});

void test("a timeout is recognised directly and through the errors that chain it; other kube errors are not timeouts", () => {
  const t = timeoutError("GET /api/v1/pods", 2000);
  assert.equal(t.message, "GET /api/v1/pods: no answer within 2 s");
  assert.equal(isRequestTimeout(t), true);
  assert.equal(isRequestTimeout(new Error("ConfigMap a/b: read: ...", { cause: t })), true);
  assert.equal(isRequestTimeout(new KubeError("transport", "GET /: fetch failed")), false);
  assert.equal(isRequestTimeout(new Error("x")), false);
  assert.equal(isRequestTimeout("timeout"), false);
});
