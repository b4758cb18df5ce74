/**
 * The waypoint's admin endpoint for `weft authz explain` at L7:
 * `GET /authz/explain?dst=IP&port=N[&method=M][&path=P][&host=H][&header=K:V]...[&claim=K=V]...
 * [&principal=TD/ns/NS/sa/SA][&src=IP]`: the HTTP filters of the listener in force for dst:port
 * (the one requests get now), explained for that request (authz/explain.ts). A claim value that
 * reads as JSON (`["a","b"]`, `3`) is that value, else a string.
 */
import type http from "node:http";
import type { Handler } from "../../common/admin/servers.js";
import type { L7View } from "../envoy/store.js";
import { explainRequest, formatRequestExplanation } from "../authz/explain.js";

const USAGE =
  "usage: /authz/explain?dst=IP&port=PORT[&method=GET][&path=/][&host=HOST][&header=NAME:VALUE]...[&claim=NAME=VALUE]...[&principal=TD/ns/NS/sa/SA][&src=IP]\n";

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(body);
}

function claimValue(v: string): unknown {
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

export function explainRoutes(l7: L7View): Record<string, Handler> {
  return {
    "/authz/explain": (_req, res, url) => {
      const q = url.searchParams;
      const dst = q.get("dst") ?? "";
      const port = Number(q.get("port"));
      if (!dst || !Number.isInteger(port) || port < 1 || port > 65535)
        return reply(res, 400, `explain: dst and port are required\n${USAGE}`);
      const listener = l7.listenerFor(dst, port);
      if (!listener) return reply(res, 404, `explain: the waypoint has no listener for ${dst}:${port}\n`);
      if (listener.filter.kind !== "http")
        return reply(
          res,
          400,
          `explain: ${listener.name} is a TCP listener: its network RBAC is L4 (weft authz explain without L7 flags)\n`,
        );
      const headers: Record<string, string> = {};
      for (const h of q.getAll("header")) {
        const i = h.indexOf(":");
        if (i <= 0) return reply(res, 400, `explain: header ${JSON.stringify(h)} is not NAME:VALUE\n`);
        headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      let claims: Record<string, unknown> | undefined;
      for (const c of q.getAll("claim")) {
        const i = c.indexOf("=");
        if (i <= 0) return reply(res, 400, `explain: claim ${JSON.stringify(c)} is not NAME=VALUE\n`);
        (claims ??= {})[c.slice(0, i)] = claimValue(c.slice(i + 1));
      }
      if (claims && typeof claims.iss !== "string") return reply(res, 400, "explain: a JWT needs its issuer: claim=iss=...\n");
      const host = q.get("host") ?? `${dst}:${port}`;
      const principal = q.get("principal") ?? "";
      const e = explainRequest(listener.filter.authz, {
        facts: {
          method: (q.get("method") ?? "GET").toUpperCase(),
          authority: host,
          path: q.get("path") ?? "/",
          scheme: "http",
          headers: { ...headers, host },
        },
        peerPrincipal: principal ? (principal.startsWith("spiffe://") ? principal : `spiffe://${principal}`) : undefined,
        clientIp: q.get("src") ?? "0.0.0.0",
        destinationIp: dst,
        destinationPort: port,
        ...(claims ? { claims } : {}),
      });
      reply(res, 200, `listener ${listener.name}\n${formatRequestExplanation(e)}`);
    },
  };
}
