/**
 * Decodes an Envoy Listener into the waypoint's Listener: its VIP:port addresses and its one
 * network filter, an HTTP connection manager (codec, RDS name or inline route_config, router
 * as the only HTTP filter, upgrade types) or a TCP proxy (one cluster). The filters'
 * typed_config (google.protobuf.Any) is unpacked with Envoy's own types. Pure.
 */
import { type Result, ok, err } from "../../common/result.js";
import { canonicalIp } from "../../common/net/addr.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import { HCM_TYPE_URL, ROUTER_TYPE_URL, TCP_PROXY_TYPE_URL } from "../../common/xds/envoy-proto.js";
import { routeTable } from "./decode-route.js";
import { decodeTracing } from "./decode-tracing.js";
import { Decoding, type Obj, arr, join, num, obj, str } from "./fields.js";
import { unpackAny } from "./any.js";
import type { Codec, Listener, ListenerAddress, ListenerFilter } from "./types.js";

export const HCM_NAME = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy";
export const ROUTER_NAME = "envoy.filters.http.router";

/** A decoded HCM also carries the upgrade types it allows (`upgrade_configs`). */
export type HttpFilter = Extract<ListenerFilter, { kind: "http" }> & { readonly upgrades: readonly string[] };

export function decodeListener(
  o: Obj,
  resource: string,
): Result<Listener & { filter: HttpFilter | Extract<ListenerFilter, { kind: "tcp" }> }, ResourceError[]> {
  const d = new Decoding(resource);
  d.only(o, "", ["name", "address", "additionalAddresses", "filterChains"], ["trafficDirection", "statPrefix", "metadata"]);
  if (str(o.name) !== resource) d.fail("name", `${JSON.stringify(o.name)} differs from the resource name`);
  const addresses: ListenerAddress[] = [];
  const first = socketAddress(d, o.address, "address");
  if (first) addresses.push(first);
  arr(o.additionalAddresses).forEach((a, i) => {
    d.only(a, `additional_addresses[${i}]`, ["address"]);
    const s = socketAddress(d, a.address, `additional_addresses[${i}].address`);
    if (s) addresses.push(s);
  });
  const chains = arr(o.filterChains);
  let filter: HttpFilter | Extract<ListenerFilter, { kind: "tcp" }> | undefined;
  if (chains.length !== 1) d.fail("filter_chains", `exactly one filter chain is supported, got ${chains.length}`);
  else {
    const chain = chains[0]!;
    d.only(chain, "filter_chains[0]", ["filters"], ["name", "metadata"]);
    const filters = arr(chain.filters);
    if (filters.length !== 1) d.fail("filter_chains[0].filters", `exactly one network filter is supported, got ${filters.length}`);
    else filter = networkFilter(d, filters[0]!, "filter_chains[0].filters[0]");
  }
  if (d.errors.length || !filter) return err(d.errors);
  return ok({ name: resource, addresses, filter });
}

function socketAddress(d: Decoding, v: unknown, path: string): ListenerAddress | undefined {
  const a = obj(v);
  if (!a) {
    d.fail(path, "required");
    return undefined;
  }
  d.only(a, path, ["socketAddress"]);
  const s = obj(a.socketAddress) ?? {};
  const sp = join(path, "socket_address");
  d.only(s, sp, ["address", "portValue", "protocol"], ["ipv4Compat"]);
  if (s.protocol !== undefined && s.protocol !== "TCP") d.fail(join(sp, "protocol"), "only TCP");
  const ip = canonicalIp(str(s.address) ?? "");
  const port = num(s.portValue) ?? 0;
  if (!ip) d.fail(join(sp, "address"), `${JSON.stringify(s.address)} is not an IP address`);
  if (port < 1 || port > 65535) d.fail(join(sp, "port_value"), `${port} is not a port`);
  return ip && port >= 1 && port <= 65535 ? { ip, port } : undefined;
}

function networkFilter(d: Decoding, f: Obj, path: string): HttpFilter | Extract<ListenerFilter, { kind: "tcp" }> | undefined {
  d.only(f, path, ["name", "typedConfig"]);
  const name = str(f.name);
  const tc = unpackAny(d, f.typedConfig, join(path, "typed_config"));
  if (!tc) return undefined;
  const cpath = join(path, "typed_config");
  if (tc.typeUrl === HCM_TYPE_URL && (name === HCM_NAME || name === undefined)) return hcm(d, tc.value, cpath);
  if (tc.typeUrl === TCP_PROXY_TYPE_URL && (name === TCP_PROXY_NAME || name === undefined)) {
    d.only(tc.value, cpath, ["statPrefix", "cluster"], ["idleTimeout", "accessLog"]);
    const cluster = str(tc.value.cluster) ?? "";
    if (!cluster) d.fail(join(cpath, "cluster"), "required (weighted_clusters is not supported)");
    return { kind: "tcp", statPrefix: str(tc.value.statPrefix) ?? "", cluster };
  }
  d.fail(path, `filter ${JSON.stringify(name)} of type ${tc.typeUrl} is not supported (only ${HCM_NAME} and ${TCP_PROXY_NAME})`);
  return undefined;
}

const CODECS: Record<string, Codec> = { AUTO: "AUTO", HTTP1: "HTTP1", HTTP2: "HTTP2" };

function hcm(d: Decoding, o: Obj, path: string): HttpFilter | undefined {
  d.only(
    o,
    path,
    ["statPrefix", "codecType", "rds", "routeConfig", "httpFilters", "upgradeConfigs", "tracing"],
    ["useRemoteAddress", "xffNumTrustedHops", "generateRequestId", "accessLog", "normalizePath", "mergeSlashes", "serverName"],
  );
  const codec = CODECS[str(o.codecType) ?? "AUTO"];
  if (!codec) d.fail(join(path, "codec_type"), `${String(o.codecType)} is not supported (AUTO, HTTP1, HTTP2)`);
  const filters = arr(o.httpFilters);
  filters.forEach((f, i) => {
    const fp = `${join(path, "http_filters")}[${i}]`;
    d.only(f, fp, ["name", "typedConfig"]);
    const tc = f.typedConfig !== undefined ? unpackAny(d, f.typedConfig, join(fp, "typed_config")) : undefined;
    if (str(f.name) !== ROUTER_NAME || (tc && tc.typeUrl !== ROUTER_TYPE_URL))
      return d.fail(fp, `http filter ${JSON.stringify(f.name)} is not supported (only ${ROUTER_NAME})`);
    if (i !== filters.length - 1) d.fail(fp, "the router must be the last http filter");
    if (tc) d.only(tc.value, join(fp, "typed_config"), [], ["dynamicStats", "startChildSpan", "suppressEnvoyHeaders"]);
  });
  if (filters.length === 0) d.fail(join(path, "http_filters"), `${ROUTER_NAME} is required`);
  let routes: HttpFilter["routes"] | undefined;
  if (o.rds !== undefined) {
    const rds = obj(o.rds) ?? {};
    d.only(rds, join(path, "rds"), ["routeConfigName", "configSource"]);
    const cs = obj(rds.configSource) ?? {};
    if (cs.ads === undefined) d.fail(join(path, "rds.config_source"), "only ads {} is supported");
    const name = str(rds.routeConfigName) ?? "";
    if (!name) d.fail(join(path, "rds.route_config_name"), "required");
    routes = { kind: "rds", name };
  } else if (o.routeConfig !== undefined)
    routes = { kind: "inline", table: routeTable(d, obj(o.routeConfig) ?? {}, join(path, "route_config")) };
  else d.fail(path, "one of rds, route_config is required");
  const upgrades: string[] = [];
  arr(o.upgradeConfigs).forEach((u, i) => {
    d.only(u, `${join(path, "upgrade_configs")}[${i}]`, ["upgradeType", "enabled"]);
    const enabled = obj(u.enabled) ? (obj(u.enabled)!.value ?? false) : true;
    if (enabled && str(u.upgradeType)) upgrades.push(str(u.upgradeType)!.toLowerCase());
  });
  const tracing = o.tracing !== undefined ? decodeTracing(d, obj(o.tracing) ?? {}, join(path, "tracing")) : undefined;
  if (!codec || !routes) return undefined;
  return { kind: "http", statPrefix: str(o.statPrefix) ?? "", codec, routes, upgrades, ...(tracing ? { tracing } : {}) };
}
