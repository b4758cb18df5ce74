/**
 * The value strings users write in AuthorizationPolicy (principals, namespaces, IP blocks,
 * ports, service accounts, trust domains): the checks Istio's validating webhook applies
 * (`check*`, which record errors on the Reader), and the conversions Istio's ambient converter
 * applies (pilot/pkg/serviceregistry/ambient/authorization.go `stringToMatch`, `stringToIP`,
 * `stringToPort`, `stringToServiceAccountMatch`), which are total on checked values.
 *
 * Wildcards as Istio converts them: `*` alone is presence (any non-empty value), a leading
 * `*` a suffix match, else a trailing `*` a prefix match, anything else exact, with no
 * further interpretation (a `*` in the middle is a literal). Values that can never match a
 * peer (a `spiffe://` scheme, a principal that is not `<td>/ns/<ns>/sa/<sa>`) are accepted,
 * as Istio accepts them, with a warning. Pure.
 */
import type { AddressMatch, ServiceAccountMatch, StringMatch } from "../../common/model/authorization.js";
import { parsePrincipal } from "../../common/spiffe.js";
import { formatCidr, parseCidr } from "../../common/net/ip.js";
import type { Reader } from "./authorization-policy-schema.js";

/** Istio's `stringToMatch`. */
export function stringMatch(v: string): StringMatch {
  if (v === "*") return { presence: true };
  if (v.startsWith("*")) return { suffix: v.slice(1) };
  if (v.endsWith("*")) return { prefix: v.slice(0, -1) };
  return { exact: v };
}

/** Warnings for principal values (source.principals, `source.principal`) that can never match a peer. */
export function principalWarnings(values: readonly string[], where: string): string[] {
  const out: string[] = [];
  values.forEach((v, i) => {
    const at = `${where}[${i}]: ${JSON.stringify(v)}`;
    if (v.startsWith("spiffe://"))
      out.push(`${at} never matches: principals are compared without the spiffe:// scheme; write ${JSON.stringify(v.slice(9))}`);
    else if (v.length > 2 && v.slice(1, -1).includes("*"))
      out.push(`${at}: a '*' inside a value is taken literally (only a leading or trailing '*' is a wildcard)`);
    else if (!v.includes("*") && !parsePrincipal(v).ok)
      out.push(`${at} never matches: peer principals have the form <trust-domain>/ns/<namespace>/sa/<service-account>`);
  });
  return out;
}

/** IPs and CIDRs as Go's netip parses them. */
export function checkAddresses(r: Reader, values: readonly string[], path: string): void {
  values.forEach((v, i) => {
    const c = parseCidr(v);
    if (!c.ok) r.fail(`${path}[${i}]`, c.error.message);
  });
}

/** Istio's `stringToIP` on a checked value; host bits are cleared (ztunnel's IpNet::contains ignores them too). */
export function addressOf(v: string): AddressMatch {
  const c = parseCidr(v);
  // Only called on values checkAddresses accepted.
  if (!c.ok) throw new Error(`authorization: internal: unchecked address ${JSON.stringify(v)}`);
  const text = formatCidr(c.value);
  return { address: text.slice(0, text.lastIndexOf("/")), length: c.value.length };
}

/** Ports as Istio's webhook reads them: decimal (strconv.ParseUint), 0-65535; names are rejected. */
export function checkPorts(r: Reader, values: readonly string[], path: string, warnings: string[], name: string): void {
  values.forEach((v, i) => {
    if (!/^\d+$/.test(v)) {
      r.fail(`${path}[${i}]`, `${JSON.stringify(v)} is not a port number (ports are decimal; named ports are not supported)`);
      return;
    }
    const n = Number(v);
    if (n > 65535) r.fail(`${path}[${i}]`, `port ${v} out of range 0-65535`);
    else if (n === 0) warnings.push(`${name}: ${path}[${i}]: port 0 never matches a connection`);
  });
}

/** Istio's `stringToPort` on checked values. */
export function portsOf(values: readonly string[]): number[] {
  return values.map(Number);
}

/** Istio's `CheckServiceAccount`: `sa` or `ns/sa`, no wildcard, at most 16 values of 320 characters. */
export function checkServiceAccounts(r: Reader, values: readonly string[], path: string): void {
  if (values.length > 16) r.fail(path, "may not have more than 16 values");
  values.forEach((v, i) => {
    const q = `${path}[${i}]`;
    const expect = "expected <service-account> or <namespace>/<service-account>";
    if (v.includes("*")) r.fail(q, `${JSON.stringify(v)}: wildcards are not allowed`);
    else if (v.split("/").length > 2) r.fail(q, `${JSON.stringify(v)}: ${expect}`);
    else if (v.length > 320) r.fail(q, `${JSON.stringify(v)}: longer than 320 characters`);
    else if (v.includes("/") && (v.startsWith("/") || v.endsWith("/"))) r.fail(q, `${JSON.stringify(v)}: ${expect} (empty part)`);
  });
}

/** Istio's `stringToServiceAccountMatch`: `sa` alone means the policy's namespace. */
export function serviceAccountOf(v: string, policyNamespace: string): ServiceAccountMatch {
  const i = v.indexOf("/");
  return i < 0 ? { namespace: policyNamespace, serviceAccount: v } : { namespace: v.slice(0, i), serviceAccount: v.slice(i + 1) };
}

/** Istio's `CheckTrustDomainValues` (and `CheckWildcardValues` for the `source.trustDomain` key). */
export function checkTrustDomains(r: Reader, values: readonly string[], path: string, noSlash = true): void {
  values.forEach((v, i) => {
    const q = `${path}[${i}]`;
    const stars = v.split("*").length - 1;
    if (stars > 1) r.fail(q, `${JSON.stringify(v)}: at most one wildcard is allowed`);
    else if (stars === 1 && v !== "*" && !v.startsWith("*") && !v.endsWith("*"))
      r.fail(q, `${JSON.stringify(v)}: a wildcard is only allowed at the start or end`);
    else if (noSlash && v.includes("/")) r.fail(q, `${JSON.stringify(v)}: a trust domain must not contain '/'`);
  });
}

/** A PeerAuthentication `portLevelMtls` key: a decimal string or integer, 1-65535. */
export function portValue(r: Reader, value: unknown, path: string): number | undefined {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^\d+$/.test(value)) n = Number(value);
  else return r.fail(path, `${JSON.stringify(value)} is not a port number`);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return r.fail(path, `port ${JSON.stringify(value)} out of range 1-65535`);
  return n;
}
