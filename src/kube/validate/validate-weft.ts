/**
 * Schemas of weft's own extension kinds (group `networking.weft.io`), for what Istio has no
 * first-class API for. `LocalRateLimit` (v1alpha1): a token bucket per service port at the
 * service's waypoint, answered 429 when empty (docs/routing.md "Local rate limiting"):
 *
 *   spec:
 *     targetRefs: [{ group: "", kind: Service, name: echo }]   # Services of the same namespace, 1-16
 *     tokenBucket: { maxTokens: 100, tokensPerFill: 10, fillInterval: 1s }
 *     statusCode: 429                                          # optional, 400-599
 *
 * Pure.
 */
import type { Schema } from "./validate-schema.js";
import { any, arr, int, obj, req, str } from "./validate-schema.js";
import { objectMeta } from "./validate-meta.js";
import { gatewayDuration } from "./validate-gateway-api.js";

const envelopeFields = { apiVersion: req(str()), kind: req(str()), metadata: req(objectMeta) };

export const RATE_LIMIT_GROUP = "networking.weft.io";

const targetRef = obj({ group: str({ enum: ["", "core"] }), kind: req(str({ enum: ["Service"] })), name: req(str()) });

function positiveDuration(v: string): string | undefined {
  const bad = gatewayDuration(v);
  if (bad) return bad;
  return /^(0+(h|m|s|ms))+$/.test(v) ? `${JSON.stringify(v)} must be greater than 0` : undefined;
}

export const weftSchemas: ReadonlyMap<string, Schema> = new Map<string, Schema>([
  [
    `${RATE_LIMIT_GROUP}/LocalRateLimit`,
    obj({
      ...envelopeFields,
      spec: req(
        obj({
          targetRefs: req(arr(targetRef, 1, 16)),
          tokenBucket: req(
            obj({
              maxTokens: req(int({ min: 1, max: 1_000_000_000 })),
              tokensPerFill: int({ min: 1, max: 1_000_000_000 }),
              fillInterval: req(str({ check: positiveDuration })),
            }),
          ),
          statusCode: int({ min: 400, max: 599 }),
        }),
      ),
      status: any(),
    }),
  ],
]);
