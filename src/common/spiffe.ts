/**
 * SPIFFE identities as the mesh uses them: `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.
 * Policies write principals without the scheme (`cluster.local/ns/foo/sa/bar`).
 * Pure; no IO.
 */
import { type Result, ok, err } from "./result.js";

export const DEFAULT_TRUST_DOMAIN = "cluster.local";

/** A workload identity. Invariant: every field is non-empty and contains no '/'. */
export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// DNS-label-ish segments; trust domains may contain dots, names may contain dots and dashes.
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function identity(trustDomain: string, namespace: string, serviceAccount: string): Identity {
  for (const [field, v] of [
    ["trust domain", trustDomain],
    ["namespace", namespace],
    ["service account", serviceAccount],
  ]) {
    if (!v || !SEGMENT.test(v!)) throw new Error(`spiffe: invalid ${field} ${JSON.stringify(v)}`);
  }
  return { trustDomain, namespace, serviceAccount };
}

/** `spiffe://td/ns/ns/sa/sa` */
export function toUri(id: Identity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** The policy form of an identity: `td/ns/ns/sa/sa` (no scheme). */
export function toPrincipal(id: Identity): string {
  return `${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses `spiffe://td/ns/N/sa/S`; anything else is an error naming what is wrong. */
export function parseUri(uri: string): Result<Identity> {
  const prefix = "spiffe://";
  if (!uri.startsWith(prefix)) return err(new Error(`spiffe: ${JSON.stringify(uri)}: missing spiffe:// scheme`));
  return parsePrincipal(uri.slice(prefix.length));
}

/** Parses the scheme-less principal form `td/ns/N/sa/S`. */
export function parsePrincipal(p: string): Result<Identity> {
  const parts = p.split("/");
  if (parts.length !== 5 || parts[1] !== "ns" || parts[3] !== "sa") {
    return err(new Error(`spiffe: ${JSON.stringify(p)}: expected <trust-domain>/ns/<namespace>/sa/<service-account>`));
  }
  const [td, , ns, , sa] = parts as [string, string, string, string, string];
  for (const v of [td, ns, sa]) {
    if (!v || !SEGMENT.test(v)) return err(new Error(`spiffe: ${JSON.stringify(p)}: invalid segment ${JSON.stringify(v)}`));
  }
  return ok({ trustDomain: td, namespace: ns, serviceAccount: sa });
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return a.trustDomain === b.trustDomain && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;
}
