/**
 * Local ports for connections bound to a source IP (bind-before-connect). Asking the kernel for
 * "any port" (0) at bind() time is a search it does without knowing the destination, and it
 * avoids every port a TIME_WAIT socket on that IP still holds: after a few thousand short
 * connections from one source IP the search slows connection setup to a crawl (measured: ~100
 * upstream connects/s after 10k connections closed, docs/hbone.md "Performance"). Handing out
 * ports ourselves, round-robin over the ephemeral range, makes bind() a single lookup; the
 * connect() that follows may still reuse a TIME_WAIT 4-tuple where the kernel allows it.
 * Pure apart from reading the range once.
 */
import { readFileSync } from "node:fs";

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

export const FALLBACK_RANGE: PortRange = Object.freeze({ first: 32768, last: 60999 });

/** Parses /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999"); undefined if malformed. */
export function parsePortRange(text: string): PortRange | undefined {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1024 || last > 65535 || first > last) return undefined;
  return { first, last };
}

export function systemPortRange(): PortRange {
  try {
    return parsePortRange(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")) ?? FALLBACK_RANGE;
  } catch {
    return FALLBACK_RANGE;
  }
}

/** Round-robin port cursor over a range, starting at a random offset (two processes rarely collide). */
export class PortCursor {
  private next: number;
  constructor(
    private readonly range: PortRange = systemPortRange(),
    start = Math.random(),
  ) {
    const size = range.last - range.first + 1;
    this.next = range.first + (Math.floor(start * size) % size);
  }

  take(): number {
    const port = this.next;
    this.next = port >= this.range.last ? this.range.first : port + 1;
    return port;
  }
}
