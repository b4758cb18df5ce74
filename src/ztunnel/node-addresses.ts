/**
 * The node's own IP addresses, as ztunnel in the node's network namespace sees them (every
 * interface: the uplink, a ptp pod veth's gateway address, lo), re-read at most once a second
 * so addresses that come and go with pods are seen. For inbound admission's node exemption
 * (inbound-admission.ts `isNodeAddress`).
 */
import os from "node:os";

export function nodeAddresses(
  refreshMs = 1000,
  read: () => ReturnType<typeof os.networkInterfaces> = os.networkInterfaces,
): (ip: string) => boolean {
  let at = -Infinity;
  let known = new Set<string>();
  return (ip) => {
    const now = Date.now();
    if (now - at >= refreshMs) {
      known = new Set(Object.values(read()).flatMap((list) => (list ?? []).map((a) => a.address)));
      at = now;
    }
    return known.has(ip);
  };
}
