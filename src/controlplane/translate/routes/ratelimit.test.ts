/** Table tests: weft's LocalRateLimit kind -> Envoy's LocalRateLimit per virtual host, and which object applies. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../../kube/object.js";
import { validateObject } from "../../../kube/validate/validate.js";
import type { Problem } from "./context.js";
import { RATE_LIMIT_TYPE, rateLimitFor } from "./ratelimit.js";

const rl = (name: string, spec: Record<string, unknown>, created = "2026-01-01T00:00:00Z"): KubeObject => ({
  apiVersion: "networking.weft.io/v1alpha1",
  kind: "LocalRateLimit",
  metadata: { name, namespace: "default", creationTimestamp: created } as KubeObject["metadata"],
  spec,
});
const spec = (extra: Record<string, unknown> = {}) => ({
  targetRefs: [{ kind: "Service", name: "echo" }],
  tokenBucket: { maxTokens: 10, tokensPerFill: 5, fillInterval: "2s" },
  ...extra,
});

void describe("LocalRateLimit -> Envoy LocalRateLimit", () => {
  void it("the bucket, 100% enabled and enforced, x-ratelimit headers, the status", () => {
    const problems: Problem[] = [];
    assert.deepEqual(rateLimitFor([rl("a", spec({ statusCode: 503 }))], "default", "echo", problems), {
      "@type": RATE_LIMIT_TYPE,
      statPrefix: "local_rate_limit_default_echo",
      tokenBucket: { maxTokens: 10, tokensPerFill: { value: 5 }, fillInterval: { seconds: 2, nanos: 0 } },
      filterEnabled: { defaultValue: { numerator: 100, denominator: "HUNDRED" }, runtimeKey: "local_rate_limit_enabled" },
      filterEnforced: { defaultValue: { numerator: 100, denominator: "HUNDRED" }, runtimeKey: "local_rate_limit_enforced" },
      enableXRatelimitHeaders: "DRAFT_VERSION_03",
      status: { code: 503 },
    });
    assert.deepEqual(problems, []);
  });

  void it("only Services of the same namespace it names; the oldest of several applies, the others are reported", () => {
    const problems: Problem[] = [];
    const all = [rl("new", spec(), "2026-02-01T00:00:00Z"), rl("old", spec({ tokenBucket: { maxTokens: 1, fillInterval: "1s" } }))];
    assert.equal(rateLimitFor(all, "default", "echo", problems)?.tokenBucket.maxTokens, 1);
    assert.deepEqual(
      problems.map((p) => p.object),
      ["LocalRateLimit default/new"],
    );
    assert.equal(rateLimitFor(all, "default", "other", []), undefined);
    assert.equal(rateLimitFor(all, "elsewhere", "echo", []), undefined);
  });
});

void describe("LocalRateLimit validation", () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["no targetRefs", { tokenBucket: { maxTokens: 1, fillInterval: "1s" } }, /spec\.targetRefs/],
    ["a target that is not a Service", spec({ targetRefs: [{ kind: "Pod", name: "x" }] }), /spec\.targetRefs\[0\]\.kind/],
    ["maxTokens 0", spec({ tokenBucket: { maxTokens: 0, fillInterval: "1s" } }), /spec\.tokenBucket\.maxTokens/],
    ["a zero fill interval", spec({ tokenBucket: { maxTokens: 1, fillInterval: "0s" } }), /spec\.tokenBucket\.fillInterval/],
    ["a status outside 400-599", spec({ statusCode: 302 }), /spec\.statusCode/],
    ["an unknown field", spec({ burst: 3 }), /spec\.burst/],
  ];
  for (const [name, s, want] of bad)
    void it(`rejects ${name}`, () => {
      const r = validateObject(rl("x", s), { source: "t" });
      assert.ok(!r.ok, "must be rejected");
      assert.match(`${r.error.field}: ${r.error.reason}`, want);
      assert.match(r.error.object ?? "", /LocalRateLimit default\/x/);
    });
  void it("accepts a valid one", () => assert.ok(validateObject(rl("x", spec()), { source: "t" }).ok));
});
