import { test } from "node:test";
import assert from "node:assert/strict";
import { refusalMeaning } from "./kube-port-forward.js";

test("refusalMeaning: the API server's status as what to check; other failures unchanged", () => {
  const cases: Array<[string, string]> = [
    ["Unexpected server response: 401", "unauthorized (HTTP 401): the API server did not accept the kubeconfig's credentials"],
    ["Unexpected server response: 403", "forbidden (HTTP 403): RBAC must let the user create pods/portforward in ns"],
    ["Unexpected server response: 404", "pod ns/p not found (HTTP 404)"],
    ["Unexpected server response: 400", "refused (HTTP 400): is pod ns/p Running?"],
    ["Unexpected server response: 502", "the API server could not reach the pod's node (HTTP 502): is its kubelet up and reachable?"],
    ["Unexpected server response: 302", "Unexpected server response: 302"],
    ["connect ECONNREFUSED 127.0.0.1:6443", "connect ECONNREFUSED 127.0.0.1:6443"],
  ];
  for (const [m, want] of cases) assert.equal(refusalMeaning(m, "ns", "p"), want, m);
});
