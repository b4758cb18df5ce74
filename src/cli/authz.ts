/**
 * `weft authz explain --from IP [--principal TD/ns/NS/sa/SA] --to IP:PORT [--ztunnel HOST:PORT]`:
 * asks the ztunnel that serves the destination (its admin port, default 127.0.0.1:15000)
 * whether the connection would be allowed and which policy and rule decide, from live state.
 */
import { parseArgs } from "node:util";
import { parseAddress } from "../common/net/addr.js";

export async function runAuthz(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  let v: { from?: string; principal?: string; to?: string; ztunnel?: string };
  try {
    v = parseArgs({
      args: rest,
      options: { from: { type: "string" }, principal: { type: "string" }, to: { type: "string" }, ztunnel: { type: "string" } },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`authz: ${(e as Error).message}`);
    return 2;
  }
  if (verb !== "explain" || !v.from || !v.to) {
    console.error("usage: weft authz explain --from SRC_IP [--principal TD/ns/NS/sa/SA] --to DST_IP:PORT [--ztunnel ADMIN_HOST:PORT]");
    return 2;
  }
  const to = parseAddress(v.to);
  if (!to.ok) {
    console.error(`authz: --to: ${to.error.message}`);
    return 2;
  }
  const q = new URLSearchParams({
    src: v.from,
    dst: to.value.ip,
    port: String(to.value.port),
    ...(v.principal ? { principal: v.principal } : {}),
  });
  const admin = v.ztunnel ?? "127.0.0.1:15000";
  try {
    const res = await fetch(`http://${admin}/authz/explain?${q.toString()}`);
    process.stdout.write(await res.text());
    return res.ok ? 0 : 1;
  } catch (e) {
    console.error(`authz: cannot reach the ztunnel admin port at ${admin}: ${(e as Error).message}`);
    return 1;
  }
}
