/**
 * How the control plane (xDS server, CA) learns who is calling: a bearer token in, an identity
 * and (for node proxies) the node it runs on out. Implementations: TokenReview against the
 * Kubernetes API (tokenreview.ts) and, in local mode, a per-node bootstrap token map.
 *
 * Expected failures (unknown, expired or wrongly scoped token; API server unreachable) are
 * `err` values with a message fit for an UNAUTHENTICATED status; implementations never throw.
 */
import type { Result } from "../../common/result.js";

export interface Caller {
  /** SPIFFE URI of the caller, `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. */
  readonly identity: string;
  /** Node the caller runs on, when the token proves it (pod- or node-bound token). */
  readonly node?: string;
  /** The pod the token is bound to, when it is bound to one. */
  readonly pod?: { readonly namespace: string; readonly name: string; readonly uid: string };
}

export interface Authenticator {
  authenticate(token: string): Promise<Result<Caller>>;
}
