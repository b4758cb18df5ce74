/**
 * The checks a CONNECT gets from the HBONE server itself, before any handler (both engines:
 * server.ts, native-server.ts): the method must be CONNECT, `:authority` a literal ip:port,
 * and its port none of the proxy's own listeners (the connection's own HBONE port, or one of
 * `illegalPorts`: ztunnel's SelfCall), so tunnels cannot nest. Pure.
 */
import type { SocketAddress } from "../../common/net/addr.js";
import { parseAuthority } from "./headers.js";

export type ConnectCheck =
  | { readonly ok: true; readonly target: SocketAddress }
  | { readonly ok: false; readonly status: 400; readonly reason: string; readonly selfCall: boolean };

export function checkConnect(method: string, authority: string, localPort: number, illegalPorts: ReadonlySet<number>): ConnectCheck {
  if (method !== "CONNECT") return { ok: false, status: 400, reason: `method ${method} not allowed, only CONNECT`, selfCall: false };
  const target = parseAuthority(authority);
  if (!target.ok) return { ok: false, status: 400, reason: target.error.message, selfCall: false };
  const port = target.value.port;
  if (port === localPort || illegalPorts.has(port)) {
    return { ok: false, status: 400, reason: `CONNECT ${authority}: port ${port} is a proxy listener (self call)`, selfCall: true };
  }
  return { ok: true, target: target.value };
}
