/**
 * RouteAction `hash_policy` (what Istio's DestinationRule consistentHash becomes on routes):
 * header, cookie (with ttl/path: generated when absent), connection_properties.source_ip and
 * query_parameter, each optionally `terminal`. Filter state and other kinds are refused (fail
 * closed: a hash policy weft ignored would silently break stickiness). Pure.
 */
import { type Decoding, arr, durationMs, join, obj, str } from "./fields.js";
import type { HashPolicy } from "./types.js";

export function decodeHashPolicy(d: Decoding, v: unknown, path: string): HashPolicy[] {
  const out: HashPolicy[] = [];
  arr(v).forEach((h, i) => {
    const p = `${path}[${i}]`;
    d.only(h, p, ["header", "cookie", "connectionProperties", "queryParameter", "terminal"]);
    const terminal = h.terminal === true;
    const kinds = ["header", "cookie", "connectionProperties", "queryParameter"].filter((k) => h[k] !== undefined);
    if (kinds.length !== 1) return d.fail(p, "exactly one of header, cookie, connection_properties, query_parameter is required");
    if (h.header !== undefined) {
      const o = obj(h.header) ?? {};
      d.only(o, join(p, "header"), ["headerName"]);
      const name = (str(o.headerName) ?? "").toLowerCase();
      if (!name) return d.fail(join(p, "header.header_name"), "required");
      out.push({ kind: "header", name, terminal });
    } else if (h.cookie !== undefined) {
      const o = obj(h.cookie) ?? {};
      d.only(o, join(p, "cookie"), ["name", "ttl", "path"]);
      const name = str(o.name) ?? "";
      if (!name) return d.fail(join(p, "cookie.name"), "required");
      const ttlMs = durationMs(o.ttl);
      out.push({
        kind: "cookie",
        name,
        ...(ttlMs !== undefined ? { ttlMs } : {}),
        ...(str(o.path) ? { path: str(o.path)! } : {}),
        terminal,
      });
    } else if (h.connectionProperties !== undefined) {
      const o = obj(h.connectionProperties) ?? {};
      d.only(o, join(p, "connection_properties"), ["sourceIp"]);
      if (o.sourceIp !== true) return d.fail(join(p, "connection_properties.source_ip"), "must be true");
      out.push({ kind: "source_ip", terminal });
    } else {
      const o = obj(h.queryParameter) ?? {};
      d.only(o, join(p, "query_parameter"), ["name"]);
      const name = str(o.name) ?? "";
      if (!name) return d.fail(join(p, "query_parameter.name"), "required");
      out.push({ kind: "query_parameter", name, terminal });
    }
  });
  return out;
}
