/**
 * L7 AuthorizationPolicy semantics at the waypoint, from YAML to decision, through the real
 * control plane translation, Envoy protobuf bytes and the waypoint's decoder and RBAC engine
 * (test/support/authz-pipeline.ts). Cases restate Istio's documented behaviour: the
 * authorization-policy reference (ALLOW/DENY/AUDIT precedence, allow-nothing, allow-all, value
 * wildcards, path templates, `not*` forms, `when` keys), the ambient L7 policy page (targetRefs
 * attachment; selector policies stay ztunnel's), dry-run, and weft's fail-closed rules. No
 * sockets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../src/kube/object.js";
import { type ChainVerdict, runChain, runNetworkChain } from "../../src/waypoint/authz/chain.js";
import { ROOT, TARGET, controlPlaneListener, overTheWire } from "../support/authz-pipeline.js";

const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };
const SVC = { kind: "Service", group: "", name: "httpbin" };
const SLEEP = "spiffe://cluster.local/ns/foo/sa/sleep";
const OTHER = "spiffe://cluster.local/ns/bar/sa/other";

function ap(
  name: string,
  spec: Record<string, unknown>,
  meta: { namespace?: string; annotations?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: meta.namespace ?? "foo", ...(meta.annotations ? { annotations: meta.annotations } : {}) },
    spec: { targetRefs: [GW], ...spec },
  };
}

interface Req {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  peer?: string;
  ip?: string;
  port?: number;
}

async function decide(objects: KubeObject[], r: Req = {}): Promise<ChainVerdict> {
  const l = overTheWire(controlPlaneListener(objects).listener);
  assert.equal(l.filter.kind, "http");
  if (l.filter.kind !== "http") throw new Error("unreachable");
  return runChain(l.filter.authz, {
    facts: { method: r.method ?? "GET", path: r.path ?? "/", authority: r.host ?? "httpbin.foo", scheme: "http", headers: r.headers ?? {} },
    peerPrincipal: r.peer ?? SLEEP,
    clientIp: r.ip ?? "10.1.0.5",
    destinationIp: "10.0.0.10",
    destinationPort: r.port ?? 80,
    nowSeconds: 1_700_000_000,
  });
}

async function allowed(objects: KubeObject[], r: Req = {}): Promise<boolean> {
  const v = await decide(objects, r);
  if (v.kind === "deny") assert.equal(v.body, "RBAC: access denied");
  return v.kind === "continue";
}

test("no policy: everything passes; the listener has no filters", async () => {
  const f = controlPlaneListener([]).listener.filter;
  assert.equal(f.kind === "http" ? f.httpFilters?.length : -1, 0);
  assert.ok(await allowed([]));
});

test("ALLOW by method, path and principal (the reference's first example)", async () => {
  const p = ap("allow-get", {
    rules: [
      {
        from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }],
        to: [{ operation: { methods: ["GET"], paths: ["/info*"] } }],
      },
    ],
  });
  assert.ok(await allowed([p], { path: "/info" }));
  assert.ok(await allowed([p], { path: "/info/x?y=1" }), "paths match without the query");
  assert.ok(!(await allowed([p], { path: "/info", method: "POST" })));
  assert.ok(!(await allowed([p], { path: "/status" })));
  assert.ok(!(await allowed([p], { path: "/info", peer: OTHER })));
  const v = await decide([p], { path: "/status" });
  assert.equal(v.kind === "deny" && v.details, "rbac_access_denied_matched_policy[none]");
  const ok = await decide([p], { path: "/info" });
  assert.deepEqual(ok.report.policies, ["ns[foo]-policy[allow-get]-rule[0]"]);
});

test("DENY by header wins over an ALLOW that matches (deny before allow)", async () => {
  const allow = ap("allow-all", { rules: [{}] });
  const deny = ap("deny-hdr", { action: "DENY", rules: [{ when: [{ key: "request.headers[x-token]", notValues: ["admin"] }] }] });
  assert.ok(await allowed([allow]));
  assert.ok(!(await allowed([allow, deny])), "a request without x-token is denied (notValues: a missing header is not admin)");
  assert.ok(!(await allowed([allow, deny], { headers: { "x-token": "guest" } })));
  assert.ok(await allowed([allow, deny], { headers: { "x-token": "admin" } }));
  const v = await decide([allow, deny]);
  assert.equal(v.kind === "deny" && v.details, "rbac_access_denied_matched_policy[ns[foo]-policy[deny-hdr]-rule[0]]");
});

test("allow-nothing (no rules) denies everything; rules: [{}] allows everything", async () => {
  assert.ok(!(await allowed([ap("nothing", {})])));
  assert.ok(await allowed([ap("all", { rules: [{}] })]));
  assert.ok(await allowed([ap("nothing", {}), ap("all", { rules: [{}] })]), "ALLOW policies are ORed");
});

test("paths: exact, prefix, suffix, presence, templates {*} and {**}, notPaths", async () => {
  const p = (paths: string[], notPaths: string[] = []) =>
    ap("paths", { rules: [{ to: [{ operation: { paths, ...(notPaths.length ? { notPaths } : {}) } }] }] });
  const cases: [string[], string, boolean][] = [
    [["/exact"], "/exact", true],
    [["/exact"], "/exact/", false],
    [["/api/*"], "/api/v1/x", true],
    [["/api/*"], "/api", false],
    [["*.html"], "/a/b.html", true],
    [["*"], "/anything", true],
    [["/items/{*}/edit"], "/items/42/edit", true],
    [["/items/{*}/edit"], "/items/4/2/edit", false],
    [["/static/{**}"], "/static/css/a.css", true],
    [["/static/{**}"], "/other/a.css", false],
    [["/{**}/data"], "/a/b/data", true],
  ];
  for (const [paths, path, want] of cases) assert.equal(await allowed([p(paths)], { path }), want, `${paths} vs ${path}`);
  assert.ok(!(await allowed([p(["/api/*"], ["/api/admin"])], { path: "/api/admin" })));
  assert.ok(await allowed([p(["/api/*"], ["/api/admin"])], { path: "/api/users" }));
});

test("hosts ignore case; a port in :authority must be written (Istio)", async () => {
  const p = ap("hosts", { rules: [{ to: [{ operation: { hosts: ["httpbin.foo", "*.example.com"] } }] }] });
  assert.ok(await allowed([p], { host: "HTTPBIN.foo" }));
  assert.ok(await allowed([p], { host: "a.Example.com" }));
  assert.ok(!(await allowed([p], { host: "httpbin.foo:8000" })));
  const n = ap("not-hosts", { rules: [{ to: [{ operation: { notHosts: ["evil.com"] } }] }] });
  assert.ok(!(await allowed([n], { host: "evil.com" })));
  assert.ok(await allowed([n], { host: "good.com" }));
});

test("methods, notMethods, ports, notPorts, destination.port", async () => {
  const m = ap("m", { rules: [{ to: [{ operation: { notMethods: ["DELETE"], ports: ["80"] } }] }] });
  assert.ok(await allowed([m], { method: "GET" }));
  assert.ok(!(await allowed([m], { method: "DELETE" })));
  assert.ok(!(await allowed([m], { port: 8080 })));
  const w = ap("w", { rules: [{ when: [{ key: "destination.port", values: ["8080"] }] }] });
  assert.ok(await allowed([w], { port: 8080 }));
  assert.ok(!(await allowed([w], { port: 80 })));
});

test("sources: namespaces, principals (wildcards), serviceAccounts, ipBlocks, remoteIpBlocks, not forms", async () => {
  const src = (source: Record<string, unknown>) => ap("src", { rules: [{ from: [{ source }] }] });
  assert.ok(await allowed([src({ namespaces: ["foo"] })]));
  assert.ok(!(await allowed([src({ namespaces: ["foo"] })], { peer: OTHER })));
  assert.ok(await allowed([src({ namespaces: ["b*"] })], { peer: OTHER }));
  assert.ok(!(await allowed([src({ notNamespaces: ["bar"] })], { peer: OTHER })));
  assert.ok(await allowed([src({ principals: ["*/sa/sleep"] })]));
  assert.ok(await allowed([src({ principals: ["*"] })]));
  assert.ok(await allowed([src({ serviceAccounts: ["sleep"] })]), "a bare service account is the policy's namespace");
  assert.ok(await allowed([src({ serviceAccounts: ["bar/other"] })], { peer: OTHER }));
  assert.ok(await allowed([src({ ipBlocks: ["10.1.0.0/16"] })]));
  assert.ok(!(await allowed([src({ ipBlocks: ["10.2.0.0/16"] })])));
  assert.ok(await allowed([src({ remoteIpBlocks: ["10.1.0.5"] })]));
  assert.ok(!(await allowed([src({ notIpBlocks: ["10.1.0.5/32"] })])));
});

test("when: source.*, remote.ip, destination.ip, connection.sni, request.headers", async () => {
  const w = (key: string, values: string[], notValues?: string[]) =>
    ap("w", { rules: [{ when: [{ key, ...(values.length ? { values } : {}), ...(notValues ? { notValues } : {}) }] }] });
  assert.ok(await allowed([w("source.namespace", ["foo"])]));
  assert.ok(await allowed([w("source.principal", ["cluster.local/ns/foo/sa/sleep"])]));
  assert.ok(!(await allowed([w("source.principal", ["cluster.local/ns/foo/sa/other"])])));
  assert.ok(await allowed([w("source.ip", ["10.1.0.0/24"])]));
  assert.ok(await allowed([w("remote.ip", ["10.1.0.5"])]));
  assert.ok(await allowed([w("destination.ip", ["10.0.0.10"])]));
  assert.ok(!(await allowed([w("connection.sni", ["x.example.com"])])), "no SNI inside HBONE");
  assert.ok(await allowed([w("request.headers[user-agent]", ["curl/*"])], { headers: { "user-agent": "curl/8" } }));
  assert.ok(!(await allowed([w("request.headers[user-agent]", ["curl/*"])])));
});

test("requestPrincipals and request.auth.* without a verified JWT never match; not* forms always do", async () => {
  const rp = ap("rp", { rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] });
  assert.ok(!(await allowed([rp])), "no JWT: no requestPrincipal, an ALLOW with requestPrincipals denies");
  const nrp = ap("nrp", { action: "DENY", rules: [{ from: [{ source: { notRequestPrincipals: ["*"] } }] }] });
  assert.ok(!(await allowed([nrp])), "Istio's require-JWT pattern denies tokenless requests");
  const claims = ap("c", { rules: [{ when: [{ key: "request.auth.claims[groups]", values: ["admins"] }] }] });
  assert.ok(!(await allowed([claims])));
});

test("dry-run: evaluated and reported, never enforced", async () => {
  const dry = ap("dry", { action: "DENY", rules: [{}] }, { annotations: { "istio.io/dry-run": "true" } });
  const v = await decide([dry]);
  assert.equal(v.kind, "continue");
  assert.deepEqual(v.report.dryRun, [{ result: "denied", policy: "ns[foo]-policy[dry]-rule[0]" }]);
  const l = controlPlaneListener([dry]).listener;
  assert.ok(l.filter.kind === "http");
  assert.deepEqual(l.filter.kind === "http" && l.filter.httpFilters?.map((f) => Object.keys(f.config).sort()), [
    ["shadowRules", "shadowRulesStatPrefix"],
  ]);
});

test("AUDIT never changes the decision and is reported", async () => {
  const audit = ap("audit", { action: "AUDIT", rules: [{ to: [{ operation: { paths: ["/secret"] } }] }] });
  const v = await decide([audit], { path: "/secret" });
  assert.equal(v.kind, "continue");
  assert.deepEqual(v.report.audit, ["ns[foo]-policy[audit]-rule[0]"]);
  assert.deepEqual((await decide([audit], { path: "/public" })).report.audit, []);
});

test("filter order is istiod's: CUSTOM (here without a provider: fail-closed DENY), AUDIT, DENY, ALLOW", () => {
  const objs = [
    ap("a", { rules: [{}] }),
    ap("d", { action: "DENY", rules: [{ to: [{ operation: { paths: ["/x"] } }] }] }),
    ap("u", { action: "AUDIT", rules: [{}] }),
    ap("c", { action: "CUSTOM", provider: { name: "ext" }, rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }),
  ];
  const { listener, problems } = controlPlaneListener(objs);
  const actions =
    listener.filter.kind === "http" ? listener.filter.httpFilters?.map((f) => (f.config.rules as { action: string }).action) : [];
  assert.deepEqual(actions, ["DENY", "LOG", "DENY", "ALLOW"]);
  assert.match(
    problems.map((p) => p.reason).join("\n"),
    /no extension provider "ext" in the mesh config: requests its rules match are denied/,
  );
});

test("CUSTOM naming a provider the mesh config lacks fails closed for what it matches", async () => {
  const c = ap("c", { action: "CUSTOM", provider: { name: "ext" }, rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] });
  assert.ok(!(await allowed([c], { path: "/admin/x" })));
  assert.ok(await allowed([c], { path: "/public" }));
});

test("malformed targetRefs policy: its waypoint targets deny everything, reported", async () => {
  const bad = ap("bad", { rules: [{ to: [{ operation: { ports: ["http"] } }] }] });
  assert.ok(!(await allowed([bad])));
  assert.match(controlPlaneListener([bad]).problems[0]!.reason, /malformed .* deny every request/);
  const badRefs: KubeObject = { ...bad, spec: { targetRefs: "waypoint", rules: [{}] } };
  assert.ok(!(await allowed([badRefs])), "unreadable targetRefs: every waypoint listener of its namespace denies");
});

test("attachment (Istio's ShouldAttachPolicy for waypoints)", () => {
  const count = (o: KubeObject) => {
    const f = controlPlaneListener([o]).listener.filter;
    return f.kind === "http" ? (f.httpFilters?.length ?? 0) : 0;
  };
  const rule = { rules: [{}] };
  assert.equal(count(ap("gw", rule)), 1, "Gateway naming the waypoint");
  assert.equal(count(ap("svc", { ...rule, targetRefs: [SVC] })), 1, "the Service");
  assert.equal(count(ap("svc2", { ...rule, targetRefs: [{ ...SVC, name: "other" }] })), 0, "another Service");
  assert.equal(count(ap("gw2", { ...rule, targetRefs: [{ ...GW, name: "other-waypoint" }] })), 0);
  const gc = { group: "gateway.networking.k8s.io", kind: "GatewayClass", name: "istio-waypoint" };
  assert.equal(
    count(ap("gc", { ...rule, targetRefs: [gc] }, { namespace: ROOT })),
    1,
    "GatewayClass istio-waypoint from the root namespace",
  );
  assert.equal(count(ap("gc2", { ...rule, targetRefs: [gc] })), 0, "GatewayClass outside the root namespace");
  const sel: KubeObject = { ...ap("sel", rule), spec: { selector: { matchLabels: { app: "httpbin" } }, rules: [{}] } };
  assert.equal(count(sel), 0, "selector policies are ztunnel's");
  const nsWide: KubeObject = { ...ap("ns", rule), spec: { rules: [{}] } };
  assert.equal(count(nsWide), 0, "namespace-wide policies are ztunnel's");
  assert.equal(count(ap("other-ns", rule, { namespace: "bar" })), 0, "a Gateway target in another namespace");
  const se = ap("se", { ...rule, targetRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "httpbin" }] });
  assert.equal(count(se), 0, "a ServiceEntry target does not attach to a Kubernetes Service");
  assert.equal(controlPlaneListener([se], { target: { ...TARGET, registry: "External" } }).listener.filter.kind, "http");
});

test("TCP listeners: network RBAC with the L4 parts (istiod's BuildTCP): ALLOW rules with HTTP fields are skipped, DENY drops them", () => {
  const tcp = (objects: KubeObject[], peer = SLEEP) => {
    const l = overTheWire(controlPlaneListener(objects, { tcp: true }).listener);
    assert.equal(l.filter.kind, "tcp");
    if (l.filter.kind !== "tcp") throw new Error("unreachable");
    return runNetworkChain(l.filter.authz, { peerPrincipal: peer, clientIp: "10.1.0.5", destinationIp: "10.0.0.10", destinationPort: 80 })
      .denied;
  };
  assert.equal(tcp([]), undefined);
  const bySa = ap("sa", { rules: [{ from: [{ source: { principals: ["cluster.local/ns/foo/sa/sleep"] } }] }] });
  assert.equal(tcp([bySa]), undefined);
  assert.equal(tcp([bySa], OTHER), "none");
  const httpAllow = ap("get", { rules: [{ to: [{ operation: { methods: ["GET"] } }] }] });
  assert.equal(tcp([httpAllow]), "none", "an ALLOW whose rules are all HTTP allows nothing on TCP");
  const denyMixed = ap("d", {
    action: "DENY",
    rules: [{ from: [{ source: { namespaces: ["bar"] } }], to: [{ operation: { paths: ["/admin"] } }] }],
  });
  assert.equal(tcp([denyMixed]), undefined);
  assert.equal(tcp([denyMixed], OTHER), "ns[foo]-policy[d]-rule[0]", "the DENY applies without its HTTP part: more restrictive");
  const denyHttp = ap("dh", { action: "DENY", rules: [{ when: [{ key: "request.headers[x]", values: ["1"] }] }] });
  assert.equal(tcp([denyHttp]), "ns[foo]-policy[dh]-rule[0]");
  const l = controlPlaneListener([bySa], { tcp: true }).listener;
  assert.equal(l.filter.kind === "tcp" && l.filter.networkFilters?.[0]?.name, "envoy.filters.network.rbac");
});
