/**
 * Request hashing for consistent-hash load balancing (RouteAction.hash_policy, Envoy's
 * semantics): each policy that yields a value contributes its hash, combined as Envoy does
 * (rotate left by one, then xor); a `terminal` policy that produced a hash ends the walk. A
 * cookie policy with a ttl whose cookie is absent generates the cookie (returned so the
 * response can set it) and hashes the generated value; without a ttl a missing cookie adds
 * nothing. No policy producing a value means no hash: the balancer then picks at random
 * (Envoy). 32-bit hashes (FNV-1a with a murmur3 finaliser); deterministic, no IO.
 */
import type { HashPolicy } from "../envoy/types.js";
import { type RequestFacts, headerValue, queryParams } from "../route/request.js";

/** A well-mixed 32-bit hash of a string. */
export function hash32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3 fmix32: FNV alone clusters similar keys ("a_1", "a_2") on the ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface HashResult {
  /** Undefined when no policy produced a value. */
  readonly hash?: number;
  /** A `Set-Cookie` value to add to the response (generated cookie). */
  readonly setCookie?: string;
}

/** Cookie value by name from the Cookie header(s), surrounding quotes removed (Envoy's parseCookieValue). */
export function cookieValue(req: RequestFacts, name: string): string | undefined {
  const raw = headerValue(req, "cookie");
  if (raw === undefined) return undefined;
  for (const part of raw.split(/[;,]/)) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const v = part.slice(eq + 1).trim();
    return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  }
  return undefined;
}

/**
 * The hash of a request. `sourceIp` is the downstream client's address; `newCookie` makes the
 * value of a generated cookie (Envoy hashes the upstream address; weft derives it from the
 * client and a counter, which serves the same purpose: a stable value the client sends back).
 */
export function requestHash(
  policies: readonly HashPolicy[],
  req: RequestFacts,
  sourceIp: string | undefined,
  newCookie: () => string,
): HashResult {
  let hash: number | undefined;
  let setCookie: string | undefined;
  for (const p of policies) {
    let value: string | undefined;
    switch (p.kind) {
      case "header":
        value = headerValue(req, p.name);
        break;
      case "source_ip":
        value = sourceIp;
        break;
      case "query_parameter":
        value = queryParams(req.path).get(p.name);
        break;
      case "cookie":
        value = cookieValue(req, p.name);
        if (value === undefined && p.ttlMs !== undefined) {
          value = newCookie();
          setCookie = formatSetCookie(p.name, value, p.ttlMs, p.path);
        }
        break;
    }
    if (value === undefined) continue;
    const h = hash32(value);
    hash = hash === undefined ? h : (((hash << 1) | (hash >>> 31)) ^ h) >>> 0;
    if (p.terminal) break;
  }
  return { ...(hash !== undefined ? { hash } : {}), ...(setCookie !== undefined ? { setCookie } : {}) };
}

/** Envoy's generated cookie: `name="value"; Max-Age=<s>; Path=<p>; HttpOnly` (ttl 0: a session cookie). */
export function formatSetCookie(name: string, value: string, ttlMs: number, path?: string): string {
  const parts = [`${name}="${value}"`];
  if (ttlMs > 0) parts.push(`Max-Age=${Math.floor(ttlMs / 1000)}`);
  if (path) parts.push(`Path=${path}`);
  parts.push("HttpOnly");
  return parts.join("; ");
}
