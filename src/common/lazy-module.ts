/**
 * A module loaded on first use instead of at start-up, for dependencies only some
 * configurations need (the waypoint's OpenTelemetry exporters and its JWT library): every
 * module a process loads stays resident, ~1-5 MB per such package (docs/waypoint.md,
 * Performance). Synchronous (CommonJS `require`), so a caller's code path does not change
 * shape; the first call pays the load (tens of ms), later calls return the same module.
 * Types come from a type-only import of the same module:
 * `import type * as X from "x"; const x = lazyModule<typeof X>("x");`.
 */
import { createRequire } from "node:module";

export function lazyModule<T>(id: string): () => T {
  const load = createRequire(__filename);
  let mod: T | undefined;
  return () => (mod ??= load(id) as T);
}
