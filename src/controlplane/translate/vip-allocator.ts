/**
 * Auto-allocated VIPs for ServiceEntry hosts without `addresses`, as Istio's IP auto-allocation
 * (PILOT_ENABLE_IP_AUTOALLOCATE) gives them, so that ztunnel's DNS proxy can answer the host with
 * an address that routes to it: one IPv4 address from PILOT_IP_AUTOALLOCATE_IPV4_PREFIX
 * (240.240.0.0/16) and one IPv6 address from PILOT_IP_AUTOALLOCATE_IPV6_PREFIX (2001:2::/48),
 * both for every host, as istiod's ipallocate controller does (`nextAddresses`: a v4 and a v6
 * address per host, whatever the cluster's families; ztunnel answers AAAA with the IPv6 one).
 *
 * Stable per host: a key (`namespace/host`) hashes (FNV-1a) to a slot of the range; a taken slot
 * probes the next one. An allocation is kept for as long as the key is wanted, so existing hosts
 * never move when others come and go; after a control-plane restart every key lands on its hash
 * slot again unless two keys collide, in which case the lexically first key gets the slot.
 * (Istio writes its allocations into the ServiceEntry's status instead; weft keeps no status.)
 *
 * The network address and broadcast address of the IPv4 range are never handed out. The IPv6
 * address uses the same slot, `2001:2::<slot in hex>`, so a host's two addresses move together.
 * No IO.
 */

const BASE = (240 << 24) | (240 << 16); // 240.240.0.0
const SIZE = 1 << 16;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function slotIp(slot: number): string {
  const v = (BASE + slot) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The IPv6 address of a slot: `2001:2::<slot>` (istiod counts up from 2001:2::1 the same way). */
function slotIp6(slot: number): string {
  return `2001:2::${slot.toString(16)}`;
}

export const AUTO_ALLOCATE_RANGE = "240.240.0.0/16";
export const AUTO_ALLOCATE_RANGE_V6 = "2001:2::/48";

export class VipAllocator {
  private readonly byKey = new Map<string, number>();
  private readonly bySlot = new Map<number, string>();

  /**
   * Makes `keys` the set of allocated keys: drops allocations of keys not in it and allocates
   * the new ones (in sorted order, so the result does not depend on iteration order).
   * Returns the addresses of every wanted key: IPv4 then IPv6.
   */
  sync(keys: Iterable<string>): ReadonlyMap<string, readonly string[]> {
    const wanted = new Set(keys);
    for (const [k, slot] of this.byKey) {
      if (!wanted.has(k)) {
        this.byKey.delete(k);
        this.bySlot.delete(slot);
      }
    }
    const out = new Map<string, readonly string[]>();
    for (const k of [...wanted].sort()) {
      let slot = this.byKey.get(k);
      if (slot === undefined) {
        if (this.bySlot.size >= SIZE - 2) continue; // range exhausted: the host gets no VIP
        slot = (fnv1a(k) % (SIZE - 2)) + 1;
        while (this.bySlot.has(slot)) slot = (slot % (SIZE - 2)) + 1;
        this.byKey.set(k, slot);
        this.bySlot.set(slot, k);
      }
      out.set(k, [slotIp(slot), slotIp6(slot)]);
    }
    return out;
  }

  /** The addresses of a key (IPv4 then IPv6), if it has them. */
  get(key: string): readonly string[] | undefined {
    const slot = this.byKey.get(key);
    return slot === undefined ? undefined : [slotIp(slot), slotIp6(slot)];
  }
}
