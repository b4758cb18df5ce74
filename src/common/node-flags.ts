/**
 * The V8 flags every long-running weft process is started with, in one place: the launchers
 * (the local cluster's supervisor specs, the bench's ztunnel peer) put them before the script,
 * and the `weft` command's shebang (src/cli/main.ts) carries the same list.
 *
 * `--max-semi-space-size=16` (MB): Node 24's V8 sizes the young generation from the heap limit,
 * which on a host without a container memory limit lets it grow to 64 MB per semi-space (128 MB
 * of new space) under a connection burst; Node 20 stopped at 16 MB. A ztunnel's live young
 * objects are a few MB, so the larger nursery only bought RSS: about 6 KB more per open tunnel
 * in the bench's memory phase and no throughput or CPU per GB (docs/hbone.md, Performance).
 *
 * A component may add its own flags after these (V8 keeps the last value of a repeated flag):
 * `WEFT_<COMPONENT>_NODE_FLAGS` (space-separated; e.g. WEFT_WAYPOINT_NODE_FLAGS), read by the
 * launchers (the local cluster's specs), else the component's default below.
 */
export const WEFT_NODE_FLAGS: readonly string[] = Object.freeze(["--max-semi-space-size=16"]);

/** Per-component defaults, appended to WEFT_NODE_FLAGS (docs/waypoint.md, Performance, for the waypoint's). */
const COMPONENT_FLAGS: Readonly<Record<string, readonly string[]>> = Object.freeze({ waypoint: Object.freeze([]) });

/**
 * The V8 flags for `weft <component>`: WEFT_NODE_FLAGS, then `WEFT_<COMPONENT>_NODE_FLAGS` when
 * set (empty: none), else the component's default. A flag that is not a `--` option is refused.
 */
export function nodeFlagsFor(component: string | undefined, env: Readonly<Record<string, string | undefined>>): readonly string[] {
  if (!component || !/^[a-z][a-z0-9-]*$/.test(component)) return WEFT_NODE_FLAGS;
  const name = `WEFT_${component.toUpperCase().replace(/-/g, "_")}_NODE_FLAGS`;
  const set = env[name];
  const extra = set !== undefined ? set.split(/\s+/).filter(Boolean) : (COMPONENT_FLAGS[component] ?? []);
  const bad = extra.find((f) => !/^--[a-z0-9-]+(=\S+)?$/.test(f));
  if (bad !== undefined) throw new Error(`${name}: ${JSON.stringify(bad)} is not a --flag or --flag=value`);
  return extra.length ? [...WEFT_NODE_FLAGS, ...extra] : WEFT_NODE_FLAGS;
}
