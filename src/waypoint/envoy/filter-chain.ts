/**
 * Filter chain selection of a `use_original_dst` listener, Envoy's filter_chain_match order,
 * pure: among the chains whose `prefix_ranges` contain the original destination IP and whose
 * `destination_port` (if set) is its port, a chain with that exact port beats one without; then
 * the longest matching prefix; then a chain listing the detected application protocol beats
 * one that lists none (a chain listing others does not match). No chain: Envoy closes the
 * connection.
 */
import { cidrContains, parseIp } from "../../common/net/ip.js";
import type { FilterChain } from "./types.js";

/** The longest prefix of `c` that contains `ip`, or -1. */
function longestMatch(c: FilterChain<unknown>, ip: ReturnType<typeof parseIp>): number {
  let best = -1;
  if (!ip) return best;
  for (const r of c.prefixRanges) if (r.length > best && cidrContains(r, ip)) best = r.length;
  return best;
}

/** Chains that may take a connection to `ip:port`, before protocol detection. */
export function chainCandidates<F>(chains: readonly FilterChain<F>[], ip: string, port: number): FilterChain<F>[] {
  const addr = parseIp(ip);
  return chains.filter((c) => (c.destinationPort === undefined || c.destinationPort === port) && longestMatch(c, addr) >= 0);
}

/** Whether telling the candidates apart needs the HTTP inspector's verdict. */
export function needsDetection(candidates: readonly FilterChain<unknown>[]): boolean {
  return candidates.some((c) => c.applicationProtocols.length > 0);
}

/**
 * The chain for a connection to `ip:port` whose detected protocol is `detected` (`http/1.1`,
 * `http/1.0`, `h2c`, or undefined when it is not HTTP).
 */
export function selectChain<F>(
  candidates: readonly FilterChain<F>[],
  ip: string,
  port: number,
  detected: string | undefined,
): FilterChain<F> | undefined {
  const addr = parseIp(ip);
  let pool = candidates.filter((c) => (c.destinationPort === undefined || c.destinationPort === port) && longestMatch(c, addr) >= 0);
  if (pool.some((c) => c.destinationPort === port)) pool = pool.filter((c) => c.destinationPort === port);
  const longest = Math.max(-1, ...pool.map((c) => longestMatch(c, addr)));
  pool = pool.filter((c) => longestMatch(c, addr) === longest);
  const byProtocol = detected ? pool.find((c) => c.applicationProtocols.includes(detected)) : undefined;
  return byProtocol ?? pool.find((c) => c.applicationProtocols.length === 0);
}
