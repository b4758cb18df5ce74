/**
 * Which identity a certificate caller gets (decideIdentity): its own always; another only as a
 * trusted node account (Istio's CA_TRUSTED_NODE_ACCOUNTS) for a pod on its own node. A workload
 * caller (a waypoint) therefore only ever gets its own identity.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { toUri } from "../../common/spiffe.js";
import type { Caller } from "../auth/authenticator.js";
import { decideIdentity } from "./ca-service.js";

const ZTUNNEL = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";
const POD = "spiffe://cluster.local/ns/shop/sa/web";
const WAYPOINT = "spiffe://cluster.local/ns/shop/sa/waypoint";
const onNode = { mayIssue: (node: string, id: string) => node === "node-a" && id === POD };
const trusted = ["istio-system/ztunnel"];

void describe("decideIdentity", () => {
  const cases: Array<[string, Caller, Record<string, string>, readonly string[] | undefined, string | number]> = [
    ["a workload caller gets its own identity", { identity: WAYPOINT }, {}, trusted, WAYPOINT],
    ["a workload caller may not impersonate", { identity: WAYPOINT }, { ImpersonatedIdentity: POD }, trusted, status.PERMISSION_DENIED],
    [
      "a workload caller naming its own identity gets it (no impersonation)",
      { identity: WAYPOINT },
      { ImpersonatedIdentity: WAYPOINT },
      trusted,
      WAYPOINT,
    ],
    ["ztunnel impersonates a pod on its node", { identity: ZTUNNEL, node: "node-a" }, { ImpersonatedIdentity: POD }, trusted, POD],
    [
      "ztunnel may not impersonate a pod elsewhere",
      { identity: ZTUNNEL, node: "node-b" },
      { ImpersonatedIdentity: POD },
      trusted,
      status.PERMISSION_DENIED,
    ],
    [
      "a pod-bound token of an ordinary pod is not a node proxy (TokenReview gives it a node)",
      { identity: WAYPOINT, node: "node-a" },
      { ImpersonatedIdentity: POD },
      trusted,
      status.PERMISSION_DENIED,
    ],
    [
      "without a trusted list, any node-bound caller may (bootstrap node tokens)",
      { identity: WAYPOINT, node: "node-a" },
      { ImpersonatedIdentity: POD },
      undefined,
      POD,
    ],
    [
      "a malformed requested identity is INVALID_ARGUMENT",
      { identity: ZTUNNEL, node: "node-a" },
      { ImpersonatedIdentity: "nope" },
      trusted,
      status.INVALID_ARGUMENT,
    ],
  ];
  for (const [name, caller, md, list, want] of cases) {
    void it(name, () => {
      const r = decideIdentity(caller, md, onNode, list);
      if (typeof want === "string") {
        assert.ok(r.ok, !r.ok ? r.error.details : "");
        assert.equal(toUri(r.value), want);
      } else {
        assert.ok(!r.ok);
        assert.equal(r.error.code, want);
      }
    });
  }
});
