/**
 * Expected outcomes are values, not exceptions (style guide, "Errors"). Throw only for
 * programming errors; everything a peer, a config file or the network can cause is a Result.
 */
export type Result<T, E = Error> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });
