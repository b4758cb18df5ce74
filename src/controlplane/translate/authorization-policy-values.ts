/**
 * Conversion of the value strings users write in AuthorizationPolicy (principals, namespaces,
 * IP blocks, ports, service accounts) into the L4 match forms of `istio.security`.
 *
 * Each converter validates strictly and records errors on the Reader with the value's path;
 * it never guesses. Wildcards follow Istio: `*` alone is presence (any non-empty value),
 * `abc*` a prefix, `*abc` a suffix, anything else exact; a `*` elsewhere is an error (upstream
 * would silently turn it into an exact match that can never match). Pure.
 */
import type { AddressMatch, ServiceAccountMatch, StringMatch } from "../../common/model/authorization.js";
import { parsePrincipal } from "../../common/spiffe.js";
import { formatCidr, parseCidr } from "../../common/net/ip.js";
import type { Reader } from "./authorization-policy-schema.js";

/** Istio's name for the default trust domain; in policies it stands for the mesh's own. */
export const LOCAL_TRUST_DOMAIN_ALIAS = "cluster.local";

function wildcard(r: Reader, value: string, path: string): StringMatch | undefined {
  if (value === "*") return { presence: true };
  const stars = value.split("*").length - 1;
  if (stars === 0) return { exact: value };
  if (stars === 1 && value.endsWith("*")) return { prefix: value.slice(0, -1) };
  if (stars === 1 && value.startsWith("*")) return { suffix: value.slice(1) };
  return r.fail(path, `${JSON.stringify(value)}: a wildcard is only allowed alone, as a prefix (\`abc*\`) or as a suffix (\`*abc\`)`);
}

/**
 * A peer principal (`<trust-domain>/ns/<ns>/sa/<sa>`, no `spiffe://`). Exact values must be
 * well-formed SPIFFE paths; `cluster.local` as trust domain is rewritten to the mesh trust
 * domain, as Istio does, so policies stay portable across trust domains.
 */
export function principalMatch(r: Reader, value: string, path: string, trustDomain: string | undefined): StringMatch | undefined {
  if (value.startsWith("spiffe://")) {
    return r.fail(path, `${JSON.stringify(value)}: write principals without the spiffe:// scheme, e.g. ${JSON.stringify(value.slice(9))}`);
  }
  const m = wildcard(r, value, path);
  if (!m) return undefined;
  if ("exact" in m) {
    const id = parsePrincipal(m.exact);
    if (!id.ok)
      return r.fail(
        path,
        `${JSON.stringify(value)} is not a principal: expected <trust-domain>/ns/<namespace>/sa/<service-account> or a wildcard form`,
      );
    return { exact: rewriteTrustDomain(m.exact, trustDomain) };
  }
  if ("prefix" in m) return { prefix: rewriteTrustDomain(m.prefix, trustDomain) };
  return m;
}

function rewriteTrustDomain(principal: string, trustDomain: string | undefined): string {
  if (!trustDomain || trustDomain === LOCAL_TRUST_DOMAIN_ALIAS) return principal;
  if (principal.startsWith(`${LOCAL_TRUST_DOMAIN_ALIAS}/`)) return trustDomain + principal.slice(LOCAL_TRUST_DOMAIN_ALIAS.length);
  return principal;
}

const NAMESPACE_TEXT = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAMESPACE_PART = /^[-a-z0-9]*$/;

/** A source namespace, optionally with a wildcard; must be a DNS label (or a part of one). */
export function namespaceMatch(r: Reader, value: string, path: string): StringMatch | undefined {
  const m = wildcard(r, value, path);
  if (!m) return undefined;
  if ("exact" in m && !NAMESPACE_TEXT.test(m.exact)) return r.fail(path, `${JSON.stringify(value)} is not a valid namespace name`);
  if ("prefix" in m && !NAMESPACE_PART.test(m.prefix)) return r.fail(path, `${JSON.stringify(value)} is not a valid namespace pattern`);
  if ("suffix" in m && !NAMESPACE_PART.test(m.suffix)) return r.fail(path, `${JSON.stringify(value)} is not a valid namespace pattern`);
  return m;
}

/** An IP or CIDR; host bits are cleared and reported as a warning. */
export function addressMatch(r: Reader, value: string, path: string, warnings: string[]): AddressMatch | undefined {
  const c = parseCidr(value);
  if (!c.ok) return r.fail(path, c.error.message);
  const text = formatCidr(c.value);
  if (c.value.hostBitsSet) warnings.push(`${path}: ${JSON.stringify(value)} has host bits set; using ${text}`);
  return { address: text.slice(0, text.lastIndexOf("/")), length: c.value.length };
}

/** A destination port: a decimal string (as the CRD types it) or an integer, 1-65535. */
export function portValue(r: Reader, value: unknown, path: string): number | undefined {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^\d{1,5}$/.test(value)) n = Number(value);
  else return r.fail(path, `${JSON.stringify(value)} is not a port number`);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return r.fail(path, `port ${JSON.stringify(value)} out of range 1-65535`);
  return n;
}

/** Reads a list of ports, keeping the path of each entry for errors. */
export function portList(r: Reader, v: unknown, path: string): number[] | undefined {
  const l = r.list(v, path);
  if (!l) return undefined;
  const out: number[] = [];
  l.forEach((p, i) => {
    const n = portValue(r, p, `${path}[${i}]`);
    if (n !== undefined) out.push(n);
  });
  return out;
}

const SA_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** `ns/sa`, or `sa` meaning the policy's own namespace (Istio's serviceAccounts field). */
export function serviceAccountMatch(r: Reader, value: string, path: string, policyNamespace: string): ServiceAccountMatch | undefined {
  const parts = value.split("/");
  if (parts.length > 2) return r.fail(path, `${JSON.stringify(value)}: expected <service-account> or <namespace>/<service-account>`);
  const [ns, sa] = parts.length === 2 ? [parts[0]!, parts[1]!] : [policyNamespace, parts[0]!];
  if (!NAMESPACE_TEXT.test(ns) || !SA_NAME.test(sa)) {
    return r.fail(path, `${JSON.stringify(value)}: expected <service-account> or <namespace>/<service-account> (no wildcards)`);
  }
  return { namespace: ns, serviceAccount: sa };
}

/** Converts a list with `f`, keeping only valid entries (errors are on the Reader). */
export function convertAll<T>(values: readonly string[] | undefined, path: string, f: (v: string, p: string) => T | undefined): T[] {
  const out: T[] = [];
  (values ?? []).forEach((v, i) => {
    const m = f(v, `${path}[${i}]`);
    if (m !== undefined) out.push(m);
  });
  return out;
}
