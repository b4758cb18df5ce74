/**
 * The registry of open inbound connections and the authorization facts they were admitted
 * with. When policy changes, every open connection is evaluated again and those now denied are
 * closed (Istio: "decisions are re-checked for open connections when policy changes").
 */
import type { Workload } from "../../common/model/workload.js";
import type { Authorize, ConnectionFacts } from "./inbound-admission.js";
import { logger } from "../../common/log.js";

const log = logger("ztunnel.connections");

interface OpenConnection {
  readonly facts: ConnectionFacts;
  readonly workloadUid: string;
  readonly close: (reason: string) => void;
}

export class ConnectionRegistry {
  private readonly open = new Set<OpenConnection>();

  /** Registers an admitted connection; the returned function unregisters it. */
  track(facts: ConnectionFacts, workload: Workload, close: (reason: string) => void): () => void {
    const c: OpenConnection = { facts, workloadUid: workload.uid, close };
    this.open.add(c);
    return () => this.open.delete(c);
  }

  get size(): number {
    return this.open.size;
  }

  /** Re-evaluates every open connection; closes the ones now denied. Returns how many were closed. */
  reevaluate(lookup: (uid: string) => Workload | undefined, authorize: Authorize): number {
    let closed = 0;
    for (const c of [...this.open]) {
      const w = lookup(c.workloadUid);
      const decision = w ? authorize(c.facts, w) : { allowed: false, reason: "destination workload was removed" };
      if (decision.allowed) continue;
      this.open.delete(c);
      closed++;
      log.info(
        { src: c.facts.sourceIp, dst: `${c.facts.destinationIp}:${c.facts.destinationPort}`, reason: decision.reason },
        "closing connection denied by the new policy",
      );
      c.close(decision.reason);
    }
    return closed;
  }
}
