/**
 * The two consistent-hash tables Envoy offers: a ring (RING_HASH, Karger et al.) and a Maglev
 * lookup table (MAGLEV, Eisenbud et al. 2016), built over weighted hosts named by their
 * address. Both keep a key on its host while the host set is unchanged, and move only about
 * 1/N of the keys when a host is added or removed (Maglev: slightly more, for perfect balance).
 * Built once per host set and cached by the balancer; lookups are O(log n) / O(1). Pure.
 */
import { hash32 } from "./hash.js";

export interface HashHost {
  readonly key: string;
  readonly weight: number;
}

export interface HashTable {
  /** The index (into the hosts it was built from) of the host for `hash`. */
  lookup(hash: number): number;
}

/**
 * Envoy's ring: the smallest-weight host gets at least one entry and the ring at least
 * `minSize` entries (at most `maxSize`); host i gets entries in proportion to its weight at
 * hash32("<key>_<n>").
 */
export function buildRing(hosts: readonly HashHost[], minSize: number, maxSize: number): HashTable {
  const total = hosts.reduce((s, h) => s + h.weight, 0);
  const normalized = hosts.map((h) => h.weight / total);
  const minWeight = Math.min(...normalized);
  const scale = Math.min(Math.ceil(minWeight * minSize) / minWeight, maxSize);
  const entries: { hash: number; host: number }[] = [];
  let current = 0;
  let target = 0;
  hosts.forEach((h, i) => {
    target += scale * normalized[i]!;
    for (let n = 0; current < target; n++, current++) entries.push({ hash: hash32(`${h.key}_${n}`), host: i });
  });
  entries.sort((a, b) => a.hash - b.hash || a.host - b.host);
  const hashes = Uint32Array.from(entries.map((e) => e.hash));
  const owner = Uint32Array.from(entries.map((e) => e.host));
  return {
    lookup(hash: number): number {
      let lo = 0;
      let hi = hashes.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (hashes[mid]! < hash) lo = mid + 1;
        else hi = mid;
      }
      return owner[lo === hashes.length ? 0 : lo]!;
    },
  };
}

/**
 * Maglev: each host walks its own permutation of the M slots (offset, skip from two hashes of
 * its key) and claims the next free slot; in round r a host claims only while its count stays
 * below r * weight / maxWeight, so slots are shared in proportion to weight.
 */
export function buildMaglev(hosts: readonly HashHost[], size: number): HashTable {
  const table = new Int32Array(size).fill(-1);
  const maxWeight = Math.max(...hosts.map((h) => h.weight));
  const offset = hosts.map((h) => hash32(h.key, 0) % size);
  const skip = hosts.map((h) => (hash32(h.key, 1) % (size - 1)) + 1);
  const next = hosts.map(() => 0);
  const count = hosts.map(() => 0);
  let filled = 0;
  for (let round = 1; filled < size; round++) {
    for (let i = 0; i < hosts.length && filled < size; i++) {
      if (count[i]! >= (round * hosts[i]!.weight) / maxWeight) continue;
      let slot: number;
      do {
        slot = (offset[i]! + next[i]! * skip[i]!) % size;
        next[i] = next[i]! + 1;
      } while (table[slot] !== -1);
      table[slot] = i;
      count[i] = count[i]! + 1;
      filled++;
    }
  }
  return { lookup: (hash: number) => table[hash % size]! };
}
