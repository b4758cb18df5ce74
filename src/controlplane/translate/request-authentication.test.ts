/**
 * RequestAuthentication: the webhook's validation (ValidateRequestAuthentication) and the
 * jwt_authn config istiod's convertToEnvoyJwtConfig builds (providers `origins-<i>`, payload in
 * metadata `payload`, space-delimited `permission`/`scope`, one `/` rule: provider or
 * allow_missing per rule, requires_any over all for several rules, CORS preflight bypassed).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { jwtFilter, parseRequestAuthentication, requestAuthnProblems } from "./request-authentication.js";

const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "wp" };
const JWKS = '{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]}';

function ra(spec: Record<string, unknown>, meta: { name?: string; creationTimestamp?: string } = {}): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "RequestAuthentication",
    metadata: {
      name: meta.name ?? "r",
      namespace: "foo",
      ...(meta.creationTimestamp ? { creationTimestamp: meta.creationTimestamp } : {}),
    },
    spec,
  } as KubeObject;
}
const parse = (o: KubeObject) => {
  const p = parseRequestAuthentication(o);
  assert.ok(p);
  return p;
};

test("valid rules parse with every field", () => {
  const p = parse(
    ra({
      targetRefs: [GW],
      jwtRules: [
        {
          issuer: "iss",
          audiences: ["a"],
          jwksUri: "https://example.com/jwks",
          fromHeaders: [{ name: "x-jwt", prefix: "Bearer " }, { name: "x-raw" }],
          fromParams: ["t"],
          fromCookies: ["c"],
          outputPayloadToHeader: "x-payload",
          forwardOriginalToken: true,
          outputClaimToHeaders: [{ header: "x-sub", claim: "sub" }],
          spaceDelimitedClaims: ["roles"],
          timeout: "10s",
        },
      ],
    }),
  );
  assert.deepEqual(p.errors, []);
  assert.equal(p.jwtRules[0]!.timeoutSeconds, 10);
  assert.deepEqual(p.targetRefs, [GW]);
  assert.equal(parseRequestAuthentication({ ...ra({}), metadata: { namespace: "foo" } } as KubeObject), undefined, "no name");
  assert.match(parse({ ...ra({}), apiVersion: "v1" } as KubeObject).errors[0]!.reason, /not supported/);
});

test("the webhook's errors", () => {
  const errs = (spec: Record<string, unknown>) =>
    parse(ra(spec))
      .errors.map((e) => `${e.field}: ${e.reason}`)
      .join("\n");
  assert.match(errs({ jwtRules: [{}] }), /issuer: issuer must be set/);
  assert.match(errs({ jwtRules: [{ issuer: "i", jwksUri: "ftp://x" }] }), /jwksUri: must be an http or https URL/);
  assert.match(errs({ jwtRules: [{ issuer: "i", jwksUri: "::" }] }), /is not a URL/);
  assert.match(errs({ jwtRules: [{ issuer: "i", jwks: "{}" }] }), /jwks: must be a JSON Web Key Set/);
  assert.match(errs({ jwtRules: [{ issuer: "i", fromHeaders: [{ prefix: "x" }] }] }), /fromHeaders\[0\]\.name: must be set/);
  assert.match(errs({ jwtRules: [{ issuer: "i", fromHeaders: [{ name: "a b" }] }] }), /is not a header name/);
  assert.match(errs({ jwtRules: [{ issuer: "i", outputClaimToHeaders: [{ header: "x" }] }] }), /claim: must be set/);
  assert.match(errs({ jwtRules: [{ issuer: "i", outputClaimToHeaders: [{ claim: "x" }] }] }), /header: must be a header name/);
  assert.match(errs({ jwtRules: [{ issuer: "i", outputPayloadToHeader: "a b" }] }), /outputPayloadToHeader/);
  assert.match(errs({ jwtRules: [{ issuer: "i", forwardOriginalToken: "yes" }] }), /must be a boolean/);
  assert.match(errs({ jwtRules: [{ issuer: "i", timeout: "soon" }] }), /not a positive duration/);
  assert.match(errs({ jwtRules: [{ issuer: "i" }, { issuer: "i" }] }), /duplicate issuer/);
  assert.match(errs({ jwtRules: ["x"] }), /must be an object/);
  assert.match(errs({ selector: { matchLabels: { a: "b" } }, targetRefs: [GW] }), /only one of targetRefs or selector/);
  assert.match(errs({ bogus: 1 }), /unknown field/);
  const p = parse(ra({ targetRefs: "wp", jwtRules: [{ issuer: "i" }] }));
  assert.ok(p.targetsUnreadable);
  assert.match(requestAuthnProblems([p])[0]!.reason, /refuses every token/);
});

test("one rule: istiod's jwt_authn config", () => {
  const f = jwtFilter([parse(ra({ targetRefs: [GW], jwtRules: [{ issuer: "iss", jwks: JWKS, fromParams: ["t"] }] }))], () => undefined);
  assert.deepEqual(f, {
    name: "envoy.filters.http.jwt_authn",
    typeUrl: "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
    config: {
      providers: {
        "origins-0": {
          issuer: "iss",
          payloadInMetadata: "payload",
          normalizePayloadInMetadata: { spaceDelimitedClaims: ["permission", "scope"] },
          fromParams: ["t"],
          localJwks: { inlineString: JWKS },
        },
      },
      rules: [
        { match: { prefix: "/" }, requires: { requiresAny: { requirements: [{ providerName: "origins-0" }, { allowMissing: {} }] } } },
      ],
      bypassCorsPreflight: true,
    },
  });
});

test("several rules and policies: oldest first, requires_any over providers and all-optional", () => {
  const a = parse(
    ra({ targetRefs: [GW], jwtRules: [{ issuer: "b", jwksUri: "http://k/b" }] }, { name: "b", creationTimestamp: "2024-02-01T00:00:00Z" }),
  );
  const b = parse(
    ra(
      {
        targetRefs: [GW],
        jwtRules: [{ issuer: "a", jwksUri: "http://k/a", audiences: ["x"], outputClaimToHeaders: [{ header: "h", claim: "c" }] }],
      },
      { name: "a", creationTimestamp: "2024-01-01T00:00:00Z" },
    ),
  );
  const f = jwtFilter([a, b], (u) => (u === "http://k/a" ? JWKS : undefined))!;
  const providers = f.config.providers as Record<string, { issuer: string; localJwks: { inlineString: string } }>;
  assert.equal(providers["origins-0"]!.issuer, "a");
  assert.equal(providers["origins-0"]!.localJwks.inlineString, JWKS);
  assert.equal(providers["origins-1"]!.localJwks.inlineString, '{"keys":[]}', "unresolved keys: an empty set, tokens fail");
  const req = (f.config.rules as { requires: { requiresAny: { requirements: unknown[] } } }[])[0]!.requires.requiresAny.requirements;
  assert.deepEqual(req.slice(0, 2), [{ providerName: "origins-0" }, { providerName: "origins-1" }]);
  assert.ok("requiresAll" in (req[2] as object));
  assert.equal(
    jwtFilter([], () => undefined),
    undefined,
  );
  assert.equal(
    jwtFilter([parse(ra({ targetRefs: [GW] }))], () => undefined),
    undefined,
    "no rules: no filter",
  );
  const bad = jwtFilter([parse(ra({ targetRefs: [GW], jwtRules: [{}] }))], () => undefined)!;
  assert.match(JSON.stringify(bad.config), /malformed-request-authentication/);
});
