/**
 * Decodes an Envoy Listener into the waypoint's Listener: its VIP:port addresses and its one
 * network filter, an HTTP connection manager (codec, RDS name or inline route_config, HTTP
 * filters: jwt_authn and rbac in any order, then the router last; upgrade types) or a TCP proxy
 * (one cluster). The filters'
 * typed_config (google.protobuf.Any) is unpacked with Envoy's own types. Pure.
 */
import { type Result, ok, err } from "../../common/result.js";
import { canonicalIp } from "../../common/net/addr.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import {
  HCM_TYPE_URL,
  JWT_AUTHN_TYPE_URL,
  NETWORK_RBAC_TYPE_URL,
  RBAC_TYPE_URL,
  ROUTER_TYPE_URL,
  TCP_PROXY_TYPE_URL,
} from "../../common/xds/envoy-proto.js";
import type { RbacFilter } from "../authz/types.js";
import type { AuthzHttpFilter } from "../authz/chain.js";
import { JWT_FILTER_NAME, decodeJwtFilter } from "../authz/decode-jwt.js";
import { RBAC_FILTER_NAME, decodeRbacFilter } from "../authz/decode-rbac.js";
import { routeTable } from "./decode-route.js";
import { decodeTracing } from "./decode-tracing.js";
import { Decoding, type Obj, arr, join, num, obj, str } from "./fields.js";
import { unpackAny } from "./any.js";
import type { Codec, Listener, ListenerAddress, ListenerFilter } from "./types.js";

export const HCM_NAME = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy";
export const ROUTER_NAME = "envoy.filters.http.router";

/**
 * A decoded HCM also carries the upgrade types it allows (`upgrade_configs`) and the HTTP
 * filters before the router, in order (`http_filters`).
 */
export type HttpFilter = Extract<ListenerFilter, { kind: "http" }> & {
  readonly upgrades: readonly string[];
  readonly authz: readonly AuthzHttpFilter[];
};

/** A decoded TCP proxy also carries the network RBAC filters before it (`envoy.filters.network.rbac`). */
export type TcpFilter = Extract<ListenerFilter, { kind: "tcp" }> & { readonly authz: readonly RbacFilter[] };

export const NETWORK_RBAC_NAME = "envoy.filters.network.rbac";

export function decodeListener(o: Obj, resource: string): Result<Listener & { filter: HttpFilter | TcpFilter }, ResourceError[]> {
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
  let filter: HttpFilter | TcpFilter | undefined;
  if (chains.length !== 1) d.fail("filter_chains", `exactly one filter chain is supported, got ${chains.length}`);
  else {
    const chain = chains[0]!;
    d.only(chain, "filter_chains[0]", ["filters"], ["name", "metadata"]);
    const filters = arr(chain.filters);
    // Network RBAC filters may precede a tcp_proxy; the last filter is the terminal one.
    const rbac = filters.slice(0, -1).map((f, i) => networkRbac(d, f, `filter_chains[0].filters[${i}]`));
    if (filters.length === 0) d.fail("filter_chains[0].filters", "one network filter is required");
    else {
      const last = networkFilter(d, filters[filters.length - 1]!, `filter_chains[0].filters[${filters.length - 1}]`);
      if (last?.kind === "http" && rbac.length)
        d.fail("filter_chains[0].filters", "network filters before the HTTP connection manager are not supported");
      filter = last?.kind === "tcp" ? { ...last, authz: rbac.filter((r): r is RbacFilter => r !== undefined) } : last;
    }
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

function networkRbac(d: Decoding, f: Obj, path: string): RbacFilter | undefined {
  d.only(f, path, ["name", "typedConfig"]);
  const tc = unpackAny(d, f.typedConfig, join(path, "typed_config"));
  if (!tc) return undefined;
  if (tc.typeUrl !== NETWORK_RBAC_TYPE_URL) {
    d.fail(
      path,
      `filter ${JSON.stringify(f.name)} of type ${tc.typeUrl} is not supported before the last filter (only ${NETWORK_RBAC_NAME})`,
    );
    return undefined;
  }
  return decodeRbacFilter(d, str(f.name) ?? NETWORK_RBAC_NAME, tc.value, join(path, "typed_config"), ["statPrefix"]);
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
  const authz: AuthzHttpFilter[] = [];
  filters.forEach((f, i) => {
    const fp = `${join(path, "http_filters")}[${i}]`;
    d.only(f, fp, ["name", "typedConfig"], ["isOptional", "disabled"]);
    if (f.disabled === true) return d.fail(join(fp, "disabled"), "disabled filters are not supported");
    const tc = f.typedConfig !== undefined ? unpackAny(d, f.typedConfig, join(fp, "typed_config")) : undefined;
    const name = str(f.name) ?? "";
    const tcp = join(fp, "typed_config");
    if (tc?.typeUrl === RBAC_TYPE_URL || (!tc && name === RBAC_FILTER_NAME)) {
      const r = decodeRbacFilter(d, name, tc?.value ?? {}, tcp);
      if (r) authz.push(r);
    } else if (tc?.typeUrl === JWT_AUTHN_TYPE_URL || (!tc && name === JWT_FILTER_NAME)) {
      const j = decodeJwtFilter(d, name, tc?.value ?? {}, tcp);
      if (j) authz.push(j);
    } else if (name === ROUTER_NAME && (!tc || tc.typeUrl === ROUTER_TYPE_URL)) {
      if (i !== filters.length - 1) d.fail(fp, "the router must be the last http filter");
      if (tc) d.only(tc.value, tcp, [], ["dynamicStats", "startChildSpan", "suppressEnvoyHeaders"]);
    } else
      return d.fail(
        fp,
        `http filter ${JSON.stringify(f.name)} is not supported (only ${JWT_FILTER_NAME}, ${RBAC_FILTER_NAME}, then ${ROUTER_NAME})`,
      );
  });
  if (filters.length && str(filters[filters.length - 1]!.name) !== ROUTER_NAME)
    d.fail(join(path, "http_filters"), `${ROUTER_NAME} must be the last http filter`);
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
  return { kind: "http", statPrefix: str(o.statPrefix) ?? "", codec, routes, upgrades, authz, ...(tracing ? { tracing } : {}) };
}
