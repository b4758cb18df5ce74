/**
 * Start-up cleanup across backends: a node agent that crashed with one capture backend and
 * restarts with the other (`--capture-backend` changed on reinstall) must not keep the first
 * one's tc filters, pins, nft tables or rules: they would go on capturing (or dropping) pods the
 * new backend knows nothing of. Each backend's cleanupStale() runs its own cleanup, then the
 * others' (handed over by createRedirectBackend); every one of them removes only weft's own
 * state (its named tables, its pin folder, its filters and rules), so running all is safe.
 */
import { type Result, ok, err } from "../common/result.js";
import type { StaleCleaner } from "./backend.js";

export async function cleanupWithOthers(own: () => Promise<Result<string[]>>, others: readonly StaleCleaner[]): Promise<Result<string[]>> {
  const mine = await own();
  if (!mine.ok) return mine;
  const removed = [...mine.value];
  for (const o of others) {
    const r = await o.cleanupStale();
    if (!r.ok) return err(new Error(`removing the ${o.kind} backend's leftovers: ${r.error.message}`, { cause: r.error }));
    removed.push(...r.value.map((x) => `${x} (${o.kind} backend)`));
  }
  return ok(removed);
}
