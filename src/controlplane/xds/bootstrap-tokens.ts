/**
 * Local-mode Authenticator: a fixed map of bootstrap tokens, one per node, each naming the
 * node and the identity its ztunnel runs as (`weft local up` writes one per node namespace).
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
  /** Node the holder runs on. */
  readonly node: string;
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
      if (t.token.length < 16) throw new Error(`bootstrap tokens[${i}] (node ${t.node}): token shorter than 16 characters`);
      if (!t.node) throw new Error(`bootstrap tokens[${i}]: node required`);
      const id = parseUri(t.identity);
      if (!id.ok) throw new Error(`bootstrap tokens[${i}] (node ${t.node}): identity: ${id.error.message}`);
      if (seen.has(t.token)) throw new Error(`bootstrap tokens[${i}] (node ${t.node}): duplicate token`);
      seen.add(t.token);
      return { digest: digest(t.token), caller: { identity: t.identity, node: t.node } };
    });
  }

  authenticate(token: string): Promise<Result<Caller>> {
    const d = digest(token);
    let found: Caller | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.caller;
    return Promise.resolve(found ? ok(found) : err(new Error("unknown bootstrap token")));
  }
}
