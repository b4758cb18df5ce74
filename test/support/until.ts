/**
 * Polls `f` until it returns something other than undefined, for integration tests waiting on
 * processes they started (readiness, config having propagated). A throw counts as "not yet";
 * at the deadline the error names what was awaited and the last error seen.
 */
export async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
