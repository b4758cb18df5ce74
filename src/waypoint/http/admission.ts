/**
 * The request path's hook into the upstream policies (upstream/cluster-policies.ts): admit a
 * request through the cluster's circuit breaker before it is sent (waiting while it is a
 * pending request), and turn the exchange's end (status and response flags) into the outcome
 * outlier detection counts. An overflow is the caller's 503 UO. The route timeout starts after
 * admission (time spent pending is not counted; Envoy counts it).
 */
import type { Upstream } from "../route/decide.js";
import type { Outcome } from "../upstream/cluster-policies.js";
import type { DownstreamResponse, ProxyRuntime } from "./context.js";

export type UpstreamAdmission =
  | { readonly ok: true; readonly done: (o: Outcome | undefined) => void }
  /** `gone`: the downstream closed while the request was pending (no answer to send). */
  | { readonly ok: false; readonly reason: string; readonly gone?: boolean };

/**
 * `closed` is asked only for a pending request: it resolves when the downstream goes away, and
 * the pending request then gives up its place. Admitted at once (the common case), the answer
 * is synchronous: no promise and no close listener per request.
 */
export function admitUpstream(
  rt: ProxyRuntime,
  up: Upstream,
  h1: boolean,
  closed: () => Promise<void>,
): UpstreamAdmission | Promise<UpstreamAdmission> {
  const a = rt.clusters.admit(up.cluster, up.endpoint, h1);
  if (!a.ok) return a;
  if (!a.pending) return { ok: true, done: a.done };
  return waitAdmitted(a.pending, a.done, closed());
}

async function waitAdmitted(
  pending: Promise<unknown>,
  done: (o: Outcome | undefined) => void,
  closed: Promise<void>,
): Promise<UpstreamAdmission> {
  const gone = await Promise.race([pending.then(() => false), closed.then(() => true)]);
  if (gone) {
    done(undefined);
    return { ok: false, reason: "downstream closed while pending", gone: true };
  }
  return { ok: true, done };
}

/** Resolves when the downstream response closes (a pending admission then gives up). */
export function closedPromise(res: DownstreamResponse): Promise<void> {
  return res.closed ? Promise.resolve() : new Promise((r) => res.once("close", () => r()));
}

/** What outlier detection sees of a finished exchange; undefined when it says nothing about the upstream. */
export function outcomeOf(status: number, flags: string): Outcome | undefined {
  switch (flags) {
    case "UF":
      return { kind: "local", failure: "connect" };
    case "UR":
    case "UC":
      return { kind: "local", failure: "reset" };
    case "UT":
      return { kind: "local", failure: "timeout" };
    case "UPE":
      return { kind: "status", status: 502 };
    case "DC":
    case "UO":
      return undefined;
  }
  return status > 0 ? { kind: "status", status } : undefined;
}
