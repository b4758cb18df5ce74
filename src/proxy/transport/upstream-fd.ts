/**
 * An inbound tunnel's upstream as a connected descriptor (the native HBONE engine's form: the
 * addon dials it, docs/hbone.md "The upstream dial"), owned by whoever holds this object until
 * `take()` hands it to the engine. Invariant: the fd is closed exactly once, by `reset()` while
 * owned (with SO_LINGER 0, so the workload sees a reset, as `resetDuplex` does for a socket), or
 * by the engine after `take()`; a `reset()` after the hand-over does nothing (the engine closes
 * the upstream when the stream ends, a reset stream with a TCP RST).
 */
import net from "node:net";

export class UpstreamFd {
  private owned = true;

  constructor(
    readonly fd: number,
    private readonly closeReset: (fd: number) => void,
  ) {}

  /** Whether the fd is still this object's (not handed over, not reset). */
  get isOwned(): boolean {
    return this.owned;
  }

  /** Hands the fd over; a second take is a programming error. */
  take(): number {
    if (!this.owned) throw new Error(`upstream fd ${this.fd}: already handed over or closed`);
    this.owned = false;
    return this.fd;
  }

  /** Closes the upstream with a reset, unless it was handed over. */
  reset(): void {
    if (!this.owned) return;
    this.owned = false;
    this.closeReset(this.fd);
  }

  /** The fd as a Node socket (for an engine that splices sockets; not used on the native path). */
  toSocket(): net.Socket {
    return new net.Socket({ fd: this.take(), readable: true, writable: true, allowHalfOpen: true });
  }
}
