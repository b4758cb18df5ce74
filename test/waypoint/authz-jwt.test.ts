/**
 * RequestAuthentication + AuthorizationPolicy at the waypoint, YAML to decision, through the
 * control plane's jwt_authn/RBAC translation, Envoy bytes and the waypoint's filters, with real
 * ES256 and RS256 keys and tokens (jose). Istio's semantics (the JWT tasks): a valid token gives
 * a requestPrincipal `iss/sub`; an invalid one (bad signature, expired, unknown issuer, wrong
 * audience) is refused with 401; a request without a token passes authentication with no
 * principal, so an ALLOW with requestPrincipals denies it (403). No sockets.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { type KeyLike, SignJWT, exportJWK, generateKeyPair } from "jose";
import type { KubeObject } from "../../src/kube/object.js";
import { type ChainVerdict, runChain } from "../../src/waypoint/authz/chain.js";
import { controlPlaneListener, overTheWire } from "../support/authz-pipeline.js";

const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };
const ISS = "https://issuer.example.com";
const NOW = 1_700_000_000;
let es: { privateKey: KeyLike; jwks: string };
let rs: { privateKey: KeyLike; jwks: string };
let stranger: KeyLike;

before(async () => {
  const mk = async (alg: "ES256" | "RS256", kid: string) => {
    const k = await generateKeyPair(alg);
    return { privateKey: k.privateKey, jwks: JSON.stringify({ keys: [{ ...(await exportJWK(k.publicKey)), kid, alg, use: "sig" }] }) };
  };
  es = await mk("ES256", "es-1");
  rs = await mk("RS256", "rs-1");
  stranger = (await generateKeyPair("ES256")).privateKey;
});

async function token(
  o: {
    key?: KeyLike;
    alg?: string;
    kid?: string;
    iss?: string;
    sub?: string;
    aud?: string;
    exp?: number;
    claims?: Record<string, unknown>;
  } = {},
) {
  return new SignJWT({ ...(o.claims ?? {}) })
    .setProtectedHeader({ alg: o.alg ?? "ES256", kid: o.kid ?? "es-1" })
    .setIssuer(o.iss ?? ISS)
    .setSubject(o.sub ?? "alice")
    .setAudience(o.aud ?? "httpbin")
    .setIssuedAt(NOW - 10)
    .setExpirationTime(o.exp ?? NOW + 3600)
    .sign(o.key ?? es.privateKey);
}

function ra(rules: Record<string, unknown>[]): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "RequestAuthentication",
    metadata: { name: "jwt", namespace: "foo" },
    spec: { targetRefs: [GW], jwtRules: rules },
  };
}
function ap(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: "foo" },
    spec: { targetRefs: [GW], ...spec },
  };
}

const jwksUri = "http://127.0.0.1:9/jwks.json";

async function run(objects: KubeObject[], headers: Record<string, string> = {}, path = "/"): Promise<ChainVerdict> {
  const l = overTheWire(controlPlaneListener(objects, { jwks: (u) => (u === jwksUri ? rs.jwks : undefined) }).listener);
  if (l.filter.kind !== "http") throw new Error("not http");
  return runChain(l.filter.authz, {
    facts: { method: "GET", path, authority: "httpbin.foo", scheme: "http", headers },
    peerPrincipal: "spiffe://cluster.local/ns/foo/sa/sleep",
    clientIp: "10.1.0.5",
    destinationIp: "10.0.0.10",
    destinationPort: 80,
    nowSeconds: NOW,
  });
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

test("ES256 inline jwks: valid passes with the requestPrincipal, the token header removed", async () => {
  const v = await run([ra([{ issuer: ISS, jwks: es.jwks }])], bearer(await token()));
  assert.equal(v.kind, "continue");
  assert.ok(v.kind === "continue");
  assert.deepEqual(v.report.requestPrincipals, [`${ISS}/alice`]);
  assert.ok(v.removeHeaders.includes("authorization"), "forwardOriginalToken is false by default");
});

test("RS256 from jwksUri (resolved by the control plane)", async () => {
  const t = await token({ key: rs.privateKey, alg: "RS256", kid: "rs-1" });
  assert.equal((await run([ra([{ issuer: ISS, jwksUri }])], bearer(t))).kind, "continue");
  const unresolved = ra([{ issuer: ISS, jwksUri: "http://127.0.0.1:9/other.json" }]);
  const v = await run([unresolved], bearer(t));
  assert.ok(v.kind === "deny" && v.status === 401, "keys not fetched: tokens fail closed");
});

test("invalid tokens are refused with 401 and Envoy's reason", async () => {
  const rule = ra([{ issuer: ISS, jwks: es.jwks, audiences: ["httpbin"] }]);
  const cases: [string, Promise<string>, RegExp][] = [
    ["bad signature", token({ key: stranger }), /Jwks doesn't have key|Jwt verification fails/],
    ["expired", token({ exp: NOW - 3600 }), /Jwt is expired/],
    ["wrong issuer", token({ iss: "https://evil.example.com" }), /Jwt issuer is not configured/],
    ["wrong audience", token({ aud: "other" }), /Audiences in Jwt are not allowed/],
    ["garbage", Promise.resolve("not.a.jwt"), /Jwt/],
  ];
  for (const [what, t, re] of cases) {
    const v = await run([rule], bearer(await t));
    assert.ok(v.kind === "deny", what);
    assert.equal(v.status, 401, what);
    assert.match(v.body, re, what);
    assert.match(v.headers["www-authenticate"] ?? "", /^Bearer realm="http:\/\/httpbin\.foo\/", error="invalid_token"$/);
  }
});

test("missing token: authenticated as nobody; ALLOW requestPrincipals then denies (403)", async () => {
  const rule = ra([{ issuer: ISS, jwks: es.jwks }]);
  const require = ap("require-jwt", { rules: [{ from: [{ source: { requestPrincipals: [`${ISS}/*`] } }] }] });
  assert.equal((await run([rule])).kind, "continue");
  const v = await run([rule, require]);
  assert.ok(v.kind === "deny" && v.status === 403 && v.body === "RBAC: access denied");
  assert.equal((await run([rule, require], bearer(await token()))).kind, "continue");
  const other = ap("only-bob", { rules: [{ from: [{ source: { requestPrincipals: [`${ISS}/bob`] } }] }] });
  assert.equal((await run([rule, other], bearer(await token()))).kind, "deny");
});

test("claims, audiences and presenter in when conditions (list and string claims)", async () => {
  const rule = ra([{ issuer: ISS, jwks: es.jwks }]);
  const groups = ap("groups", { rules: [{ when: [{ key: "request.auth.claims[groups]", values: ["admins"] }] }] });
  const nested = ap("nested", { rules: [{ when: [{ key: "request.auth.claims[org][team]", values: ["mesh"] }] }] });
  const aud = ap("aud", { rules: [{ when: [{ key: "request.auth.audiences", values: ["httpbin"] }] }] });
  const scope = ap("scope", { rules: [{ when: [{ key: "request.auth.claims[scope]", values: ["write"] }] }] });
  const t = await token({ claims: { groups: ["dev", "admins"], org: { team: "mesh" }, scope: "read write", azp: "cli" } });
  for (const p of [groups, nested, aud, scope]) assert.equal((await run([rule, p], bearer(t))).kind, "continue", String(p.metadata.name));
  const t2 = await token({ claims: { groups: "dev" } });
  assert.equal((await run([rule, groups], bearer(t2))).kind, "deny");
  const presenter = ap("azp", { rules: [{ when: [{ key: "request.auth.presenter", values: ["cli"] }] }] });
  assert.equal((await run([rule, presenter], bearer(t))).kind, "continue");
});

test("token locations: fromHeaders with prefix, fromParams, fromCookies", async () => {
  const t = await token();
  const h = ra([{ issuer: ISS, jwks: es.jwks, fromHeaders: [{ name: "x-jwt", prefix: "Token " }] }]);
  assert.equal((await run([h], { "x-jwt": `Token ${t}` })).kind, "continue");
  const require = ap("r", { rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] });
  assert.equal((await run([h, require], bearer(t))).kind, "deny", "the default location is not read when fromHeaders is set");
  const q = ra([{ issuer: ISS, jwks: es.jwks, fromParams: ["tok"] }]);
  assert.equal((await run([q, require], {}, `/x?tok=${t}`)).kind, "continue");
  const c = ra([{ issuer: ISS, jwks: es.jwks, fromCookies: ["session"] }]);
  assert.equal((await run([c, require], { cookie: `a=b; session=${t}` })).kind, "continue");
  const bad = await run([c], { cookie: "session=x.y.z" });
  assert.ok(bad.kind === "deny" && bad.status === 401);
});

test("outputs: outputPayloadToHeader, outputClaimToHeaders, forwardOriginalToken; spoofed output headers removed", async () => {
  const t = await token({ claims: { email: "alice@example.com" } });
  const rule = ra([
    {
      issuer: ISS,
      jwks: es.jwks,
      outputPayloadToHeader: "x-jwt-payload",
      outputClaimToHeaders: [{ header: "x-email", claim: "email" }],
      forwardOriginalToken: true,
    },
  ]);
  const v = await run([rule], bearer(t));
  assert.ok(v.kind === "continue");
  assert.equal(v.setHeaders["x-jwt-payload"], t.split(".")[1]);
  assert.equal(v.setHeaders["x-email"], "alice@example.com");
  assert.ok(!v.removeHeaders.includes("authorization"));
  const spoof = await run([rule], { "x-email": "root@example.com" });
  assert.ok(spoof.kind === "continue" && spoof.removeHeaders.includes("x-email"));
});

test("two jwtRules: either issuer's token is accepted (istiod's requires_any)", async () => {
  const rule = ra([
    { issuer: ISS, jwks: es.jwks },
    { issuer: "https://second.example.com", jwksUri },
  ]);
  assert.equal((await run([rule], bearer(await token()))).kind, "continue");
  const t2 = await token({ key: rs.privateKey, alg: "RS256", kid: "rs-1", iss: "https://second.example.com" });
  const v = await run([rule], bearer(t2));
  assert.ok(v.kind === "continue");
  assert.deepEqual(v.report.requestPrincipals, ["https://second.example.com/alice"]);
  assert.equal((await run([rule])).kind, "continue");
  assert.equal((await run([rule], bearer(await token({ iss: "https://third" })))).kind, "deny");
});

test("a malformed RequestAuthentication refuses every token at its targets", async () => {
  const bad = ra([{ jwks: es.jwks }]);
  const { problems } = controlPlaneListener([bad]);
  assert.match(problems[0]?.reason ?? "", /issuer must be set.*refuses every token/);
  const v = await run([bad], bearer(await token()));
  assert.ok(v.kind === "deny" && v.status === 401);
  assert.equal((await run([bad])).kind, "continue");
});

test("verified-token cache: a repeated token is still refused once expired, and audiences are checked per requirement", async () => {
  const t = await token({ exp: NOW + 60 });
  const objects = [ra([{ issuer: ISS, jwks: es.jwks, audiences: ["httpbin"] }])];
  const l = overTheWire(controlPlaneListener(objects).listener);
  if (l.filter.kind !== "http") throw new Error("not http");
  const at = (now: number) =>
    runChain(l.filter.authz, {
      facts: { method: "GET", authority: "httpbin", path: "/", scheme: "http", headers: bearer(t) },
      peerPrincipal: undefined,
      clientIp: "10.1.0.5",
      destinationIp: "10.0.0.10",
      destinationPort: 80,
      nowSeconds: now,
    });
  assert.equal((await at(NOW)).kind, "continue");
  assert.equal((await at(NOW + 100)).kind, "continue", "cached; within the clock skew");
  const expired = await at(NOW + 60 + 61); // past exp and Envoy's 60 s clock skew
  assert.ok(expired.kind === "deny");
  assert.equal(expired.body, "Jwt is expired");
  // The same (verified, cached) token against a listener whose rule wants another audience.
  const other = overTheWire(controlPlaneListener([ra([{ issuer: ISS, jwks: es.jwks, audiences: ["other"] }])]).listener);
  if (other.filter.kind !== "http") throw new Error("not http");
  const v = await runChain(other.filter.authz, {
    facts: { method: "GET", authority: "httpbin", path: "/", scheme: "http", headers: bearer(t) },
    peerPrincipal: undefined,
    clientIp: "10.1.0.5",
    destinationIp: "10.0.0.10",
    destinationPort: 80,
    nowSeconds: NOW,
  });
  assert.ok(v.kind === "deny");
  assert.equal(v.body, "Audiences in Jwt are not allowed");
});
