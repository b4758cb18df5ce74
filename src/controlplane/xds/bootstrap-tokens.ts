/**
 * Local-mode Authenticator: a fixed map of bootstrap tokens. A node entry names the node and
 * the identity its ztunnel runs as (`weft local up` writes one per node namespace); a workload
 * entry (no node: a waypoint, or any pod process) names only the identity it runs as, and may
 * repeat it as `namespace`/`serviceAccount` (checked against the identity). A workload caller
 * is not bound to a node, so it can only ever obtain its own identity (ca-service.ts).
 * Tokens are compared by SHA-256 digest in constant time, so neither timing nor the map's
 * iteration order reveals a valid token. The Kubernetes counterpart is TokenReview
 * (src/controlplane/auth/tokenreview.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type Result, ok, err } from "../../common/result.js";
import { parseUri } from "../../common/spiffe.js";
import type { Authenticator, Caller } from "../auth/authenticator.js";

export interface BootstrapToken {
  readonly token: string;
  /** Node the holder runs on (a ztunnel); absent for a workload caller. */
  readonly node?: string;
  /** Optional, for a workload entry: must equal the identity's namespace. */
  readonly namespace?: string;
  /** Optional, for a workload entry: must equal the identity's service account. */
  readonly serviceAccount?: string;
  /** SPIFFE URI the holder authenticates as (the node's ztunnel service account). */
  readonly identity: string;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export class BootstrapTokenAuthenticator implements Authenticator {
  private readonly entries: Array<{ digest: Buffer; caller: Caller }>;

  /** Throws on a malformed table (configuration is validated at startup, loudly). */
  constructor(tokens: readonly BootstrapToken[]) {
    const seen = new Set<string>();
    this.entries = tokens.map((t, i) => {
      const who = t.node !== undefined ? `node ${t.node}` : `identity ${t.identity}`;
      if (t.token.length < 16) throw new Error(`bootstrap tokens[${i}] (${who}): token shorter than 16 characters`);
      if (t.node !== undefined && t.node === "")
        throw new Error(`bootstrap tokens[${i}]: node must not be empty (leave it out for a workload caller)`);
      const id = parseUri(t.identity);
      if (!id.ok) throw new Error(`bootstrap tokens[${i}] (${who}): identity: ${id.error.message}`);
      if (t.namespace !== undefined && t.namespace !== id.value.namespace)
        throw new Error(`bootstrap tokens[${i}] (${who}): namespace ${t.namespace} differs from the identity's ${id.value.namespace}`);
      if (t.serviceAccount !== undefined && t.serviceAccount !== id.value.serviceAccount)
        throw new Error(
          `bootstrap tokens[${i}] (${who}): serviceAccount ${t.serviceAccount} differs from the identity's ${id.value.serviceAccount}`,
        );
      if (seen.has(t.token)) throw new Error(`bootstrap tokens[${i}] (${who}): duplicate token`);
      seen.add(t.token);
      return { digest: digest(t.token), caller: t.node !== undefined ? { identity: t.identity, node: t.node } : { identity: t.identity } };
    });
  }

  authenticate(token: string): Promise<Result<Caller>> {
    const d = digest(token);
    let found: Caller | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.caller;
    return Promise.resolve(found ? ok(found) : err(new Error("unknown bootstrap token")));
  }
}
