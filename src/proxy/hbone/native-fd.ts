/**
 * Taking a connected Node socket's descriptor over for the native HBONE engine: Node stops
 * reading, whatever it had already read is handed along (sent first by the addon), the fd is
 * duplicated (CLOEXEC) and Node's socket destroyed, which closes only Node's copy: the
 * connection stays open, owned by the addon. Used for the server's upstream sockets and the
 * client's application sockets.
 */
import type { Duplex } from "node:stream";
import type { NativeHboneAddon } from "./native-addon.js";

export type TakenOver = { ok: true; fd: number; initial: Buffer | null } | { ok: false; reason: string };

export function takeOverSocket(addon: Pick<NativeHboneAddon, "hboneDupFd">, socket: Duplex, what: string): TakenOver {
  const h = (socket as unknown as { _handle?: { fd?: number; readStop?: () => number } })._handle;
  const fd = h?.fd;
  if (socket.destroyed || typeof fd !== "number" || fd < 0)
    return { ok: false, reason: `native engine: ${what} is not a socket with an fd` };
  h?.readStop?.();
  const initial = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  let dup: number;
  try {
    dup = addon.hboneDupFd(fd);
  } catch (e) {
    return { ok: false, reason: `native engine: ${what} fd: ${(e as Error).message}` };
  }
  socket.destroy();
  return { ok: true, fd: dup, initial };
}
