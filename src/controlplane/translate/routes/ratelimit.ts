/**
 * weft's LocalRateLimit extension (validate-weft.ts) -> Envoy's local rate limit filter: the
 * virtual host of each port of a targeted Service gets
 * `typed_per_filter_config["envoy.filters.http.local_ratelimit"]` (LocalRateLimit: the token
 * bucket, `filter_enabled` and `filter_enforced` at 100% (Envoy's defaults are 0%), x-ratelimit
 * headers, the status), so one bucket counts every request to that service port at its
 * waypoint. Of several LocalRateLimits naming one Service the oldest applies (then `ns/name`)
 * and the others are reported. Pure.
 */
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { LocalRateLimit } from "./envoy-types.js";
import { objectName, objectOrder, objs, parseDuration } from "./names.js";
import type { Problem } from "./context.js";

export const LOCAL_RATE_LIMIT_KIND = "networking.weft.io/LocalRateLimit";
export const RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit";
export const RATE_LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

const ALL = { defaultValue: { numerator: 100, denominator: "HUNDRED" as const }, runtimeKey: "local_rate_limit_enabled" };

/** The LocalRateLimit (if any) for Service `namespace/name` among `all`, reporting the ones that lose. */
export function rateLimitFor(all: readonly KubeObject[], namespace: string, name: string, problems: Problem[]): LocalRateLimit | undefined {
  const matching = all
    .filter((o) => o.metadata.namespace === namespace)
    .filter((o) => objs(isPlainObject(o.spec) ? o.spec.targetRefs : []).some((t) => t.kind === "Service" && t.name === name))
    .sort(objectOrder);
  const [first, ...rest] = matching;
  for (const r of rest)
    problems.push({
      object: objectName(r),
      field: "spec.targetRefs",
      reason: `Service ${namespace}/${name} already has ${objectName(first!)} (the oldest applies): ignored for it`,
    });
  return first ? toEnvoy(first, `${namespace}/${name}`) : undefined;
}

function toEnvoy(o: KubeObject, service: string): LocalRateLimit {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const tb = isPlainObject(spec.tokenBucket) ? spec.tokenBucket : {};
  return {
    "@type": RATE_LIMIT_TYPE,
    statPrefix: `local_rate_limit_${service.replace("/", "_")}`,
    tokenBucket: {
      maxTokens: Number(tb.maxTokens),
      tokensPerFill: { value: typeof tb.tokensPerFill === "number" ? tb.tokensPerFill : 1 },
      fillInterval: parseDuration(String(tb.fillInterval)) ?? { seconds: 1 },
    },
    filterEnabled: ALL,
    filterEnforced: { ...ALL, runtimeKey: "local_rate_limit_enforced" },
    enableXRatelimitHeaders: "DRAFT_VERSION_03",
    ...(typeof spec.statusCode === "number" ? { status: { code: spec.statusCode } } : {}),
  };
}
