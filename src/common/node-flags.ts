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
 */
export const WEFT_NODE_FLAGS: readonly string[] = Object.freeze(["--max-semi-space-size=16"]);
