/**
 * CUSTOM AuthorizationPolicy at a waypoint, against istiod's authz builder for the custom action
 * (pilot/pkg/security/authz/builder: extauthz.go, builder.go buildHTTP, and the goldens
 * testdata/http/custom-{http,grpc}-provider-out{1,2}.yaml, custom-bad-out.yaml, with
 * custom-simple-http-in.yaml as input), the mesh config's ext authz providers, and weft's
 * fail-closed cases (missing/bad provider, a body limit of 0, two providers, dry-run).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { ConfigStore } from "../model/store.js";
import { parseMeshConfig } from "../mesh-config.js";
import { translateAuthorizationPolicy } from "./authorization-policy.js";
import { type RbacProblem, rbacFilters } from "./waypoint-rbac.js";
import { addExtAuthzClusters, extAuthzLookup } from "./waypoint-ext-authz.js";
import type { ClusterRef } from "./routes/context.js";

const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "wp" };
const HOST = "my-custom-ext-authz.foo.svc.cluster.local";
const CLUSTER = `outbound|9000||${HOST}`;
const custom = (name: string, path: string, o: { provider?: string; dryRun?: boolean } = {}): KubeObject => ({
  apiVersion: "security.istio.io/v1",
  kind: "AuthorizationPolicy",
  metadata: { name, namespace: "foo", ...(o.dryRun ? { annotations: { "istio.io/dry-run": "true" } } : {}) },
  spec: {
    targetRefs: [GW],
    action: "CUSTOM",
    provider: { name: o.provider ?? "default" },
    rules: [{ to: [{ operation: { paths: [path] } }] }],
  },
});
const service: KubeObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "my-custom-ext-authz", namespace: "foo" },
  spec: { ports: [{ port: 9000 }] },
};

function mesh(yaml: string) {
  const m = parseMeshConfig(yaml, "mesh.yaml");
  assert.ok(m.ok, !m.ok ? m.error.message : "");
  return m.value;
}

function build(objs: KubeObject[], meshYaml: string, services: KubeObject[] = [service]) {
  const store = new ConfigStore();
  store.apply(services.map((object) => ({ type: "upsert" as const, object, origin: { source: "test" } })));
  const problems: RbacProblem[] = [];
  const policies = objs.map((o) => {
    const r = translateAuthorizationPolicy(o, { rootNamespace: "istio-system" });
    assert.ok(r.ok);
    return r.value;
  });
  const byKey = new Map(objs.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
  const filters = rbacFilters(policies, problems, (k) => byKey.get(k), false, extAuthzLookup(mesh(meshYaml), store, "cluster.local"));
  return { filters, problems };
}

// istiod's builder_test meshConfigHTTP.
const HTTP_MESH = `extensionProviders:
  - name: default
    envoyExtAuthzHttp:
      service: foo/${HOST}
      port: 9000
      timeout: 10s
      failOpen: true
      statusOnError: "403"
      pathPrefix: /check
      includeRequestHeadersInCheck: [x-custom-id, x-prefix-*, "*-suffix"]
      includeHeadersInCheck: [should-not-include-when-IncludeRequestHeadersInCheck-is-set]
      includeAdditionalHeadersInCheck: { x-header-2: value-2, x-header-1: value-1 }
      includeRequestBodyInCheck: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true }
      headersToUpstreamOnAllow: [Authorization, x-prefix-*, "*-suffix"]
      headersToDownstreamOnDeny: [Set-cookie, x-prefix-*, "*-suffix"]
      headersToDownstreamOnAllow: [Set-cookie, x-prefix-*, "*-suffix"]
`;
const GRPC_MESH = `extensionProviders:
  - name: default
    envoyExtAuthzGrpc:
      service: foo/${HOST}
      port: 9000
      timeout: 0.002s
      failOpen: true
      statusOnError: "403"
      includeRequestBodyInCheck: { maxRequestBytes: 4096, allowPartialMessage: true }
`;
const list = (...p: object[]) => ({ patterns: p });
const exact = (v: string) => ({ exact: v, ignoreCase: true });
const prefix = (v: string) => ({ prefix: v, ignoreCase: true });
const suffix = (v: string) => ({ suffix: v, ignoreCase: true });
const ENABLED = {
  filter: "envoy.filters.http.rbac",
  path: [{ key: "istio_ext_authz_shadow_effective_policy_id" }],
  value: { stringMatch: { prefix: "istio-ext-authz-default" } },
};

test("HTTP provider: RBAC shadow DENY rules named istio-ext-authz-<provider>-..., then ext_authz as istiod's golden", () => {
  const { filters, problems } = build([custom("httpbin-1", "/httpbin1"), custom("httpbin-2", "/httpbin2")], HTTP_MESH);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    filters.map((f) => f.name),
    ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz"],
  );
  const rbac = filters[0]!.config as { shadowRules: { action: string; policies: Record<string, unknown> }; shadowRulesStatPrefix: string };
  assert.deepEqual(Object.keys(filters[0]!.config).sort(), ["shadowRules", "shadowRulesStatPrefix"]);
  assert.equal(rbac.shadowRules.action, "DENY");
  assert.equal(rbac.shadowRulesStatPrefix, "istio_ext_authz_");
  assert.deepEqual(Object.keys(rbac.shadowRules.policies), [
    "istio-ext-authz-default-ns[foo]-policy[httpbin-1]-rule[0]",
    "istio-ext-authz-default-ns[foo]-policy[httpbin-2]-rule[0]",
  ]);
  assert.deepEqual(
    (rbac.shadowRules.policies["istio-ext-authz-default-ns[foo]-policy[httpbin-1]-rule[0]"] as { permissions: unknown }).permissions,
    [{ andRules: { rules: [{ orRules: { rules: [{ urlPath: { path: { exact: "/httpbin1" } } }] } }] } }],
  );
  assert.equal(filters[1]!.typeUrl, "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz");
  assert.deepEqual(filters[1]!.config, {
    allowedHeaders: list(exact("x-custom-id"), prefix("x-prefix-"), suffix("-suffix")),
    failureModeAllow: true,
    filterEnabledMetadata: ENABLED,
    httpService: {
      authorizationRequest: {
        headersToAdd: [
          { key: "x-header-1", value: "value-1" },
          { key: "x-header-2", value: "value-2" },
        ],
      },
      authorizationResponse: {
        allowedClientHeaders: list(exact("Set-cookie"), prefix("x-prefix-"), suffix("-suffix")),
        allowedClientHeadersOnSuccess: list(exact("Set-cookie"), prefix("x-prefix-"), suffix("-suffix")),
        allowedUpstreamHeaders: list(exact("Authorization"), prefix("x-prefix-"), suffix("-suffix")),
      },
      pathPrefix: "/check",
      serverUri: { cluster: CLUSTER, timeout: { seconds: 10, nanos: 0 }, uri: `http://${HOST}` },
    },
    statusOnError: { code: 403 },
    transportApiVersion: "V3",
    withRequestBody: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true },
  });
  const clusters = new Map<string, ClusterRef>();
  addExtAuthzClusters(clusters, filters, "cluster.local");
  assert.deepEqual(
    [...clusters],
    [[CLUSTER, { namespace: "foo", service: "my-custom-ext-authz", hostname: HOST, port: 9000, subset: "" }]],
  );
});

test("gRPC provider: envoy_grpc to the provider's cluster with its authority and timeout (istiod's golden)", () => {
  const { filters, problems } = build([custom("httpbin-1", "/httpbin1")], GRPC_MESH);
  assert.deepEqual(problems, []);
  assert.deepEqual(filters[1]!.config, {
    failureModeAllow: true,
    filterEnabledMetadata: ENABLED,
    grpcService: { envoyGrpc: { authority: HOST, clusterName: CLUSTER }, timeout: { seconds: 0, nanos: 2_000_000 } },
    statusOnError: { code: 403 },
    transportApiVersion: "V3",
    withRequestBody: { maxRequestBytes: 4096, allowPartialMessage: true },
  });
  // Defaults: fail closed (no failureModeAllow), Envoy's 403 (no statusOnError), Istio's 600 s timeout.
  const d = build([custom("a", "/a")], `extensionProviders: [{ name: default, envoyExtAuthzGrpc: { service: ${HOST}, port: 9000 } }]`);
  assert.deepEqual(d.filters[1]!.config, {
    filterEnabledMetadata: ENABLED,
    grpcService: { envoyGrpc: { authority: HOST, clusterName: CLUSTER }, timeout: { seconds: 600, nanos: 0 } },
    transportApiVersion: "V3",
  });
});

test("a provider that cannot be used: the CUSTOM rules deny (istiod's -deny-due-to-bad-CUSTOM-action), reported", () => {
  const cases: [string, RegExp, KubeObject[]?][] = [
    // istiod's meshConfigInvalid
    [
      `extensionProviders: [{ name: default, envoyExtAuthzHttp: { service: foo/my-custom-ext-authz, port: 999999, pathPrefix: check, statusOnError: "999" } }]`,
      /found errors in provider default: .*port must be in the range \[1, 65535\], found: 999999.*unsupported statusOnError "999".*pathPrefix must begin with `\/`/,
    ],
    [
      "extensionProviders: [{ name: other, envoyExtAuthzGrpc: { service: x, port: 1 } }]",
      /available providers are \["other"\] but found "default"/,
    ],
    [
      `extensionProviders: [{ name: default, envoyExtAuthzGrpc: { service: nowhere.foo.svc.cluster.local, port: 9000 } }]`,
      /could not find service nowhere/,
    ],
    [`extensionProviders: [{ name: default, envoyExtAuthzGrpc: { service: ${HOST}, port: 9001 } }]`, /has no port 9001/],
    [`extensionProviders: [{ name: default, envoyExtAuthzGrpc: { service: bar/${HOST}, port: 9000 } }]`, /is not a Service of the mesh/],
    [
      `extensionProviders: [{ name: default, envoyExtAuthzGrpc: { service: ${HOST}, port: 9000, includeRequestBodyInCheck: { allowPartialMessage: true } } }]`,
      /includeRequestBodyInCheck.maxRequestBytes must be greater than 0/,
    ],
    [
      `extensionProviders: [{ name: default, envoyExtAuthzHttp: { service: ${HOST}, port: 9000, includeRequestHeadersInCheck: ["*"] } }]`,
      /single wildcard/,
    ],
    [`extensionProviders: [{ name: Default, envoyExtAuthzHttp: { service: ${HOST}, port: 9000 } }]`, /but found "default"/],
  ];
  for (const [yaml, reason] of cases) {
    const { filters, problems } = build([custom("httpbin-1", "/httpbin1")], yaml);
    assert.equal(filters.length, 1, yaml);
    assert.deepEqual(Object.keys(filters[0]!.config), ["rules"], yaml);
    const rules = filters[0]!.config.rules as { action: string; policies: Record<string, unknown> };
    assert.equal(rules.action, "DENY");
    assert.deepEqual(Object.keys(rules.policies), [
      "istio-ext-authz-default-ns[foo]-policy[httpbin-1]-rule[0]-deny-due-to-bad-CUSTOM-action",
    ]);
    assert.equal(problems.length, 1, yaml);
    assert.equal(problems[0]!.object, "AuthorizationPolicy foo/httpbin-1");
    assert.match(problems[0]!.reason, reason, yaml);
    assert.match(problems[0]!.reason, /requests its rules match are denied \(403\)/);
  }
});

test("two providers on one listener deny (istiod without PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS); dry-run CUSTOM has no effect", () => {
  const two = `${GRPC_MESH}  - name: second
    envoyExtAuthzGrpc: { service: ${HOST}, port: 9000 }
`;
  const { filters, problems } = build([custom("a", "/a"), custom("b", "/b", { provider: "second" })], two);
  assert.deepEqual(
    filters.map((f) => Object.keys((f.config.rules as { policies: object }).policies)),
    [
      ["istio-ext-authz-default-ns[foo]-policy[a]-rule[0]-deny-due-to-bad-CUSTOM-action"],
      ["istio-ext-authz-second-ns[foo]-policy[b]-rule[0]-deny-due-to-bad-CUSTOM-action"],
    ],
  );
  assert.match(problems[0]!.reason, /multiple CUSTOM providers/);
  const dry = build([custom("a", "/a", { dryRun: true })], GRPC_MESH);
  assert.deepEqual(dry.filters, []);
  assert.match(dry.problems[0]!.reason, /dry-run CUSTOM policies have no effect/);
});

test("CUSTOM comes first, then DENY and ALLOW; a TCP port denies the CUSTOM rules' L4 parts", () => {
  const deny: KubeObject = {
    ...custom("d", "/d"),
    spec: { targetRefs: [GW], action: "DENY", rules: [{ to: [{ operation: { paths: ["/d"] } }] }] },
  };
  const { filters } = build([deny, custom("c", "/c")], GRPC_MESH);
  assert.deepEqual(
    filters.map((f) => [f.name, Object.keys(f.config).sort().join(",")]),
    [
      ["envoy.filters.http.rbac", "shadowRules,shadowRulesStatPrefix"],
      [
        "envoy.filters.http.ext_authz",
        "failureModeAllow,filterEnabledMetadata,grpcService,statusOnError,transportApiVersion,withRequestBody",
      ],
      ["envoy.filters.http.rbac", "rules,shadowRulesStatPrefix"],
    ],
  );
  const problems: RbacProblem[] = [];
  const t = translateAuthorizationPolicy(custom("c", "/c"), { rootNamespace: "istio-system" });
  assert.ok(t.ok);
  const tcp = rbacFilters([t.value], problems, () => undefined, true);
  assert.equal((tcp[0]!.config.rules as { action: string }).action, "DENY");
  assert.match(problems[0]!.reason, /TCP port: the weft waypoint has no network ext_authz/);
});

test("mesh config: ext authz providers read with Istio's defaults; a bad one is kept with its errors, the rest applies", () => {
  const m = mesh(`${HTTP_MESH}  - name: bad
    envoyExtAuthzGrpc: { service: x, port: 0, timeout: soon }
`);
  assert.equal(m.extAuthzProviders.length, 2);
  const h = m.extAuthzProviders[0]!;
  assert.ok(h.kind === "http");
  assert.deepEqual(
    [h.timeoutMs, h.failOpen, h.statusOnError, h.pathPrefix, h.includeRequestHeadersInCheck, h.includeAdditionalHeadersInCheck, h.errors],
    [
      10_000,
      true,
      403,
      "/check",
      ["x-custom-id", "x-prefix-*", "*-suffix"],
      [
        ["x-header-1", "value-1"],
        ["x-header-2", "value-2"],
      ],
      [],
    ],
  );
  assert.deepEqual(m.extAuthzProviders[1]!.errors, [
    "extensionProviders[1].envoyExtAuthzGrpc.port: port must be in the range [1, 65535], found: 0",
    'extensionProviders[1].envoyExtAuthzGrpc.timeout: "soon" is not a positive duration',
  ]);
  assert.equal(
    mesh(`extensionProviders: [{ name: g, envoyExtAuthzGrpc: { service: s, port: 1 } }]`).extAuthzProviders[0]!.timeoutMs,
    600_000,
  );
});

test("a minimal HTTP provider: no prefix, no header lists, Istio's defaults; only the ext_authz filters' clusters are collected", () => {
  const { filters, problems } = build(
    [custom("a", "/a")],
    `extensionProviders: [{ name: default, envoyExtAuthzHttp: { service: ${HOST}, port: 9000, headersToDownstreamOnDeny: [x-reason] } }]`,
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(filters[1]!.config, {
    filterEnabledMetadata: ENABLED,
    httpService: {
      serverUri: { cluster: CLUSTER, timeout: { seconds: 600, nanos: 0 }, uri: `http://${HOST}` },
      authorizationResponse: { allowedClientHeaders: list(exact("x-reason")) },
    },
    transportApiVersion: "V3",
  });
  const clusters = new Map<string, ClusterRef>();
  addExtAuthzClusters(
    clusters,
    [filters[0]!, { ...filters[1]!, config: { grpcService: { envoyGrpc: { clusterName: "outbound|1||x.example.com" } } } }],
    "cluster.local",
  );
  addExtAuthzClusters(clusters, undefined, "cluster.local");
  assert.deepEqual([...clusters.keys()], [], "an RBAC filter and a cluster outside the cluster domain add nothing");
});
