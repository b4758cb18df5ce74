/**
 * `weft authz explain` at L7, without sockets: AuthorizationPolicy / RequestAuthentication YAML
 * -> the control plane's translation -> Envoy bytes -> the waypoint's decoder -> explainRequest.
 * The explanation names the deciding policy and rule (DENY that matched, ALLOW that admitted,
 * CUSTOM that asks the authorizer), takes JWT claims as a verified token, and agrees with the
 * request path's own verdict (runChain) on the same requests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../src/kube/object.js";
import { ConfigStore } from "../../src/controlplane/model/store.js";
import { parseMeshConfig } from "../../src/controlplane/mesh-config.js";
import { type ExtAuthzLookup, extAuthzLookup } from "../../src/controlplane/translate/waypoint-ext-authz.js";
import { runChain, type AuthzHttpFilter } from "../../src/waypoint/authz/chain.js";
import { explainRequest, formatRequestExplanation, policyLabel } from "../../src/waypoint/authz/explain.js";
import type { RequestFacts } from "../../src/waypoint/route/request.js";
import { controlPlaneListener, overTheWire } from "../support/authz-pipeline.js";

const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };
const ap = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name, namespace: "foo" },
  spec: { targetRefs: [GW], ...spec },
});
const ISS = "https://issuer.test";
const JWKS = JSON.stringify({
  keys: [
    {
      kty: "EC",
      crv: "P-256",
      x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
      y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
      kid: "k",
    },
  ],
});
const policies: KubeObject[] = [
  ap("allow", {
    rules: [
      {
        from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }],
        to: [{ operation: { methods: ["GET"], paths: ["/allowed*"] } }],
      },
      { from: [{ source: { requestPrincipals: [`${ISS}/alice`] } }], to: [{ operation: { paths: ["/jwt/*"] } }] },
    ],
  }),
  ap("deny-header", { action: "DENY", rules: [{ when: [{ key: "request.headers[x-deny]", values: ["yes"] }] }] }),
  ap("deny-claim", { action: "DENY", rules: [{ when: [{ key: "request.auth.claims[groups]", values: ["blocked"] }] }] }),
  {
    apiVersion: "security.istio.io/v1",
    kind: "RequestAuthentication",
    metadata: { name: "jwt", namespace: "foo" },
    spec: { targetRefs: [GW], jwtRules: [{ issuer: ISS, jwks: JWKS }] },
  },
];

function filters(objs: KubeObject[], extAuthz?: ExtAuthzLookup): readonly AuthzHttpFilter[] {
  const { listener, problems } = controlPlaneListener(objs, extAuthz ? { extAuthz } : {});
  assert.deepEqual(problems, []);
  const d = overTheWire(listener);
  assert.ok(d.filter.kind === "http");
  return d.filter.authz;
}

const SLEEP = "spiffe://cluster.local/ns/foo/sa/sleep";
const req = (o: {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  principal?: string;
  claims?: Record<string, unknown>;
}) => ({
  facts: {
    method: o.method ?? "GET",
    authority: "httpbin",
    path: o.path ?? "/",
    scheme: "http",
    headers: { ...(o.headers ?? {}) },
  } satisfies RequestFacts,
  peerPrincipal: o.principal,
  clientIp: "10.0.0.5",
  destinationIp: "10.0.0.10",
  destinationPort: 80,
  ...(o.claims ? { claims: o.claims } : {}),
});

test("names the deciding policy and rule: the ALLOW that admitted, the DENY that matched, or no ALLOW", () => {
  const f = filters(policies);
  const ok = explainRequest(f, req({ path: "/allowed/x", principal: SLEEP }));
  assert.equal(ok.decision, "ALLOW");
  assert.equal(ok.policy, "ns[foo]-policy[allow]-rule[0]");
  assert.match(ok.summary, /ALLOW: foo\/allow rule 0/);
  const denied = explainRequest(f, req({ path: "/allowed/x", principal: SLEEP, headers: { "x-deny": "yes" } }));
  assert.deepEqual([denied.decision, denied.policy], ["DENY", "ns[foo]-policy[deny-header]-rule[0]"]);
  assert.match(denied.summary, /DENY \(403 RBAC: access denied\): foo\/deny-header rule 0/);
  const none = explainRequest(f, req({ method: "POST", path: "/allowed/x", principal: SLEEP }));
  assert.equal(none.decision, "DENY");
  assert.match(none.summary, /no ALLOW policy matches/);
  const text = formatRequestExplanation(none);
  assert.match(text, /enforced foo\/allow rule 0: no match/);
  assert.match(text, /enforced foo\/deny-header rule 0: no match/);
});

test("JWT claims taken as verified: requestPrincipals and claims conditions see them; an unknown issuer is 401", () => {
  const f = filters(policies);
  const alice = explainRequest(f, req({ path: "/jwt/a", claims: { iss: ISS, sub: "alice" } }));
  assert.deepEqual([alice.decision, alice.policy], ["ALLOW", "ns[foo]-policy[allow]-rule[1]"]);
  assert.match(formatRequestExplanation(alice), /requestPrincipal https:\/\/issuer.test\/alice/);
  assert.equal(explainRequest(f, req({ path: "/jwt/a" })).decision, "DENY", "no token: no requestPrincipal");
  const blocked = explainRequest(f, req({ path: "/jwt/a", claims: { iss: ISS, sub: "alice", groups: ["dev", "blocked"] } }));
  assert.deepEqual([blocked.decision, blocked.policy], ["DENY", "ns[foo]-policy[deny-claim]-rule[0]"]);
  const other = explainRequest(f, req({ path: "/jwt/a", claims: { iss: "https://other", sub: "alice" } }));
  assert.equal(other.decision, "DENY");
  assert.match(other.summary, /401/);
});

test("agrees with the request path's verdict on the same requests", async () => {
  const f = filters(policies.filter((o) => o.kind !== "RequestAuthentication"));
  const cases = [
    req({ path: "/allowed/x", principal: SLEEP }),
    req({ path: "/allowed/x" }),
    req({ method: "DELETE", path: "/allowed", principal: SLEEP }),
    req({ path: "/allowed/y", principal: SLEEP, headers: { "x-deny": "yes" } }),
    req({ path: "/other", principal: SLEEP }),
  ];
  for (const c of cases) {
    const v = await runChain(f, { ...c, nowSeconds: 0 });
    const e = explainRequest(f, c);
    assert.equal(e.decision === "DENY", v.kind === "deny", `${c.facts.method} ${c.facts.path}`);
    if (v.kind === "deny") assert.equal(v.details, `rbac_access_denied_matched_policy[${e.policy ?? "none"}]`);
  }
});

test("CUSTOM: says the external authorizer decides for the matching CUSTOM rule; paths it does not match skip it", () => {
  const store = new ConfigStore();
  store.apply([
    {
      type: "upsert",
      object: { apiVersion: "v1", kind: "Service", metadata: { name: "authz", namespace: "foo" }, spec: { ports: [{ port: 9000 }] } },
      origin: { source: "test" },
    },
  ]);
  const mesh = parseMeshConfig(
    "extensionProviders: [{ name: ext, envoyExtAuthzGrpc: { service: authz.foo.svc.cluster.local, port: 9000 } }]",
    "m",
  );
  assert.ok(mesh.ok);
  const f = filters(
    [ap("custom", { action: "CUSTOM", provider: { name: "ext" }, rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] })],
    extAuthzLookup(mesh.value, store, "cluster.local"),
  );
  const e = explainRequest(f, req({ path: "/admin/x" }));
  assert.deepEqual([e.decision, e.policy], ["EXTERNAL", "istio-ext-authz-ext-ns[foo]-policy[custom]-rule[0]"]);
  assert.match(e.summary, /external authorizer \(CUSTOM foo\/custom rule 0 \(CUSTOM, provider ext\)\)/);
  assert.equal(explainRequest(f, req({ path: "/public" })).decision, "ALLOW");
  assert.equal(
    policyLabel("istio-ext-authz-ext-ns[foo]-policy[c]-rule[2]-deny-due-to-bad-CUSTOM-action"),
    "foo/c rule 2 (CUSTOM, provider ext unusable: denies)",
  );
});
