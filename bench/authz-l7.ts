/**
 * L7 authorization cost at the waypoint per request: the listener's HTTP filters (RBAC, and
 * jwt_authn) as the waypoint runs them, with 0, 10 and 1000 AuthorizationPolicies attached to
 * the listener (all of them: the worst case, policies targeting the waypoint Gateway), half
 * DENY by header, half ALLOW by path and principal; and JWT validation (ES256, key cached; a new
 * token per request, and one repeated token that the verified-token cache answers) with
 * a RequestAuthentication. The filters go through the real path: YAML-shaped policies -> the
 * control plane's translation -> Envoy bytes -> the waypoint's decoder. Reported as requests/s
 * and as the ratio to the no-policy row measured in the same run.
 * Run: `node dist/bench/authz-l7.js`. Bounded: at most ~0.5 s per row.
 */
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { LISTENER_TYPE_URL, envoyTypes } from "../src/common/xds/envoy-proto.js";
import type { KubeObject } from "../src/kube/object.js";
import { translateAuthorizationPolicy } from "../src/controlplane/translate/authorization-policy.js";
import { jwtFilter, parseRequestAuthentication } from "../src/controlplane/translate/request-authentication.js";
import { rbacFilters } from "../src/controlplane/translate/waypoint-rbac.js";
import { listenerJson } from "../src/controlplane/xds/envoy-kinds.js";
import { type AuthzHttpFilter, runChain } from "../src/waypoint/authz/chain.js";
import { decodeEnvoyResource } from "../src/waypoint/envoy/decode.js";

const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };

function policies(n: number): KubeObject[] {
  return Array.from({ length: n }, (_, i) => ({
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: `p-${i}`, namespace: "foo" },
    spec:
      i % 2 === 1
        ? { targetRefs: [GW], action: "DENY", rules: [{ when: [{ key: "request.headers[x-block]", values: [`v-${i}`] }] }] }
        : {
            targetRefs: [GW],
            rules: [
              {
                from: [{ source: { namespaces: ["foo", `ns-${i}`] } }],
                to: [{ operation: { methods: ["GET"], paths: ["/api/*", `/p-${i}`] } }],
              },
            ],
          },
  }));
}

function filters(objects: KubeObject[], ra?: KubeObject): AuthzHttpFilter[] {
  const t = objects.map((o) => {
    const r = translateAuthorizationPolicy(o, { rootNamespace: "istio-system" });
    if (!r.ok) throw new Error("policy did not translate");
    return r.value;
  });
  const jwt = ra ? jwtFilter([parseRequestAuthentication(ra)!], () => undefined) : undefined;
  const name = "inbound-vip|80|http|httpbin.foo.svc.cluster.local";
  const json = listenerJson({
    name,
    address: { address: "10.0.0.10", portValue: 80 },
    additionalAddresses: [],
    filter: {
      kind: "http",
      statPrefix: name,
      codecType: "AUTO",
      routeConfigName: name,
      httpFilters: [...(jwt ? [jwt] : []), ...rbacFilters(t, [])],
    },
  });
  const types = envoyTypes();
  const d = decodeEnvoyResource(LISTENER_TYPE_URL, types.Listener.encode(types.Listener.fromObject(json)).finish(), name);
  if (!d.ok || d.value.kind !== "listener" || !("filter" in d.value.value) || d.value.value.filter.kind !== "http")
    throw new Error("waypoint NACK");
  return [...d.value.value.filter.authz];
}

async function run(
  label: string,
  f: AuthzHttpFilter[],
  headers: Record<string, string> | (() => Record<string, string>),
  base?: number,
): Promise<number> {
  const next = typeof headers === "function" ? headers : () => headers;
  const input = {
    facts: { method: "GET", path: "/api/items?x=1", authority: "httpbin.foo", scheme: "http", headers: next() },
    peerPrincipal: "spiffe://cluster.local/ns/foo/sa/sleep",
    clientIp: "10.1.0.5",
    destinationIp: "10.0.0.10",
    destinationPort: 80,
    nowSeconds: Math.floor(Date.now() / 1000),
  };
  let passed = 0;
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + 500_000_000n;
  while (n < 2_000_000) {
    for (let i = 0; i < 200; i++)
      if ((await runChain(f, { ...input, facts: { ...input.facts, headers: next() } })).kind === "continue") passed++;
    n += 200;
    if (process.hrtime.bigint() > deadline) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = n / secs;
  console.log(
    `${label.padEnd(46)} ${Math.round(rate).toLocaleString("en-US").padStart(11)} req/s  ${((secs / n) * 1e6).toFixed(2).padStart(8)} us/req` +
      `${base ? `  x${(base / rate).toFixed(1)} the no-policy cost` : ""}  (${passed === n ? "all passed" : "UNEXPECTED DENY"})`,
  );
  return rate;
}

async function main(): Promise<void> {
  console.log("waypoint L7 authorization per request (runChain), one core:");
  const base = await run("0 policies", filters([]), {});
  await run("10 policies (5 ALLOW, 5 DENY)", filters(policies(10)), {}, base);
  await run("1000 policies (500 ALLOW, 500 DENY)", filters(policies(1000)), {}, base);
  const keys = await generateKeyPair("ES256");
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: "k", alg: "ES256" }] });
  const sign = (sub: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "k" })
      .setIssuer("iss")
      .setSubject(sub)
      .setExpirationTime("1h")
      .sign(keys.privateKey);
  const token = await sign("s");
  // More distinct tokens than the verified-token cache holds (100 per provider): every request verifies.
  const fresh = await Promise.all(Array.from({ length: 257 }, (_, i) => sign(`user-${i}`)));
  let k = 0;
  const ra: KubeObject = {
    apiVersion: "security.istio.io/v1",
    kind: "RequestAuthentication",
    metadata: { name: "jwt", namespace: "foo" },
    spec: { targetRefs: [GW], jwtRules: [{ issuer: "iss", jwks }] },
  };
  await run(
    "JWT ES256 verified (cache miss), no policy",
    filters([], ra),
    () => ({ authorization: `Bearer ${fresh[k++ % fresh.length]}` }),
    base,
  );
  await run("JWT ES256 repeated token (cached), no policy", filters([], ra), { authorization: `Bearer ${token}` }, base);
  await run("JWT ES256 repeated token + 10 policies", filters(policies(10), ra), { authorization: `Bearer ${token}` }, base);
}

void main();
