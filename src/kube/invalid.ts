/**
 * One-line rendering of an InvalidObject for logs, status and the `weft` CLI:
 * `Pod shop/web: spec.containers[0].portz: unknown field (at /cfg/web.yaml:12 (document 1))`.
 */
import type { InvalidObject } from "./source.js";

export function formatInvalid(p: InvalidObject): string {
  const what = [p.object, p.field].filter((s) => s !== undefined && s !== "").join(": ");
  return `${what ? `${what}: ` : ""}${p.reason} (at ${p.origin.source})`;
}
