/**
 * The registry of open inbound connections and the authorization facts they were admitted
 * with. When policy changes, every open connection is evaluated again and those now denied are
 * closed (Istio: "decisions are re-checked for open connections when policy changes").
 */
import type { Workload } from "../../common/model/workload.js";
import type { Authorize, ConnectionFacts } from "./inbound-admission.js";
import { logger } from "../../common/log.js";

const log = logger("ztunnel.connections");

/**
 * An admitted connection as the registry keeps it: the facts it was admitted with (evaluated
 * again as they are), its destination workload's uid, and how to close it. The caller's own
 * per-connection record can be this entry (inbound's HBONE tunnel is), so tracking a connection
 * allocates nothing.
 */
export interface OpenInbound extends ConnectionFacts {
  readonly workloadUid: string;
  close(reason: string): void;
}

export class ConnectionRegistry {
  private readonly open = new Set<OpenInbound>();

  /** Registers an admitted connection until `untrack`. */
  track(c: OpenInbound): void {
    this.open.add(c);
  }

  /** Unregisters a connection (at its end); one closed by `reevaluate` is already gone. */
  untrack(c: OpenInbound): void {
    this.open.delete(c);
  }

  get size(): number {
    return this.open.size;
  }

  /** Re-evaluates every open connection; closes the ones now denied. Returns how many were closed. */
  reevaluate(lookup: (uid: string) => Workload | undefined, authorize: Authorize): number {
    let closed = 0;
    for (const c of [...this.open]) {
      const w = lookup(c.workloadUid);
      const decision = w ? authorize(c, w) : { allowed: false, reason: "destination workload was removed" };
      if (decision.allowed) continue;
      this.open.delete(c);
      closed++;
      log.info(
        { src: c.sourceIp, dst: `${c.destinationIp}:${c.destinationPort}`, reason: decision.reason },
        "closing connection denied by the new policy",
      );
      c.close(decision.reason);
    }
    return closed;
  }
}
