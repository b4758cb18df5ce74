/**
 * Decodes an Envoy Listener into the waypoint's Listener: its VIP:port addresses and its one
 * network filter chain; or, with `use_original_dst`, an OriginalDstListener whose filter chains
 * are matched per tunnel (`filter_chain_match` prefix_ranges / destination_port /
 * application_protocols, with the HTTP inspector). A chain's filters are an HTTP connection
 * manager (codec, RDS name or inline route_config, HTTP filters: jwt_authn and rbac in any
 * order, then the router last; upgrade types; tracing; access loggers) or network RBAC filters and a TCP proxy (one
 * cluster). The filters' typed_config (google.protobuf.Any) is unpacked with Envoy's own types. Pure.
 */
import { type Result, ok, err } from "../../common/result.js";
import { canonicalIp } from "../../common/net/addr.js";
import { parseCidr } from "../../common/net/ip.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import {
  FAULT_TYPE_URL,
  HCM_TYPE_URL,
  HTTP_INSPECTOR_TYPE_URL,
  EXT_AUTHZ_TYPE_URL,
  JWT_AUTHN_TYPE_URL,
  LOCAL_RATE_LIMIT_TYPE_URL,
  NETWORK_RBAC_TYPE_URL,
  RBAC_TYPE_URL,
  ROUTER_TYPE_URL,
  TCP_PROXY_TYPE_URL,
} from "../../common/xds/envoy-proto.js";
import type { RbacFilter } from "../authz/types.js";
import type { AuthzHttpFilter } from "../authz/chain.js";
import { JWT_FILTER_NAME, decodeJwtFilter } from "../authz/decode-jwt.js";
import { RBAC_FILTER_NAME, decodeRbacFilter } from "../authz/decode-rbac.js";
import { EXT_AUTHZ_FILTER_NAME, decodeExtAuthzFilter } from "../authz/decode-ext-authz.js";
import { routeTable } from "./decode-route.js";
import { decodeTracing } from "./decode-tracing.js";
import { decodeAccessLog } from "./decode-access-log.js";
import { Decoding, type Obj, arr, join, num, obj, str, wrapped } from "./fields.js";
import { unpackAny } from "./any.js";
import type { CidrRange, Codec, FilterChain, Listener, ListenerAddress, ListenerFilter, OriginalDstListener } from "./types.js";

export const HCM_NAME = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy";
export const ROUTER_NAME = "envoy.filters.http.router";
export const FAULT_NAME = "envoy.filters.http.fault";
export const RATE_LIMIT_NAME = "envoy.filters.http.local_ratelimit";

/**
 * A decoded HCM also carries the upgrade types it allows (`upgrade_configs`) and the HTTP
 * filters before the router, in order (`http_filters`): authn/authz, fault, local rate limit.
 */
export type HttpFilter = Extract<ListenerFilter, { kind: "http" }> & {
  readonly upgrades: readonly string[];
  readonly authz: readonly AuthzHttpFilter[];
  /** `envoy.filters.http.fault` is in the chain: routes' fault configs apply (Envoy ignores them otherwise). */
  readonly faultFilter: boolean;
  /** `envoy.filters.http.local_ratelimit` is in the chain: virtual hosts' rate limits apply. */
  readonly rateLimitFilter: boolean;
  /** The order of those two filters in the chain (each runs before the router, in this order). */
  readonly filterOrder: readonly ("fault" | "rate_limit")[];
};

/** A decoded TCP proxy also carries the network RBAC filters before it (`envoy.filters.network.rbac`). */
export type TcpFilter = Extract<ListenerFilter, { kind: "tcp" }> & { readonly authz: readonly RbacFilter[] };

export const NETWORK_RBAC_NAME = "envoy.filters.network.rbac";

export const HTTP_INSPECTOR_NAME = "envoy.filters.listener.http_inspector";
/** What Envoy's HTTP inspector can report for plaintext (the only application protocols a chain may require). */
const DETECTABLE = new Set(["http/1.0", "http/1.1", "h2c"]);

type NetworkFilter = HttpFilter | TcpFilter;
export type DecodedOriginalDst = OriginalDstListener<NetworkFilter>;

export function decodeListener(
  o: Obj,
  resource: string,
): Result<(Listener & { filter: NetworkFilter }) | DecodedOriginalDst, ResourceError[]> {
  const d = new Decoding(resource);
  d.only(
    o,
    "",
    ["name", "address", "additionalAddresses", "filterChains", "useOriginalDst", "listenerFilters"],
    ["trafficDirection", "statPrefix", "metadata"],
  );
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
  if (wrapped<boolean>(o.useOriginalDst, false)) return originalDst(d, o, resource, addresses);
  if (o.listenerFilters !== undefined && arr(o.listenerFilters).length)
    d.fail("listener_filters", "only a use_original_dst listener may have listener filters");
  let filter: NetworkFilter | undefined;
  if (chains.length !== 1) d.fail("filter_chains", `exactly one filter chain is supported, got ${chains.length}`);
  else {
    const chain = chains[0]!;
    d.only(chain, "filter_chains[0]", ["filters"], ["name", "metadata"]);
    filter = chainFilter(d, chain, "filter_chains[0]");
  }
  if (d.errors.length || !filter) return err(d.errors);
  return ok({ name: resource, addresses, filter });
}

/** A chain's filters: network RBAC filters may precede a tcp_proxy; the last filter is the terminal one. */
function chainFilter(d: Decoding, chain: Obj, path: string): NetworkFilter | undefined {
  const filters = arr(chain.filters);
  const fp = join(path, "filters");
  const rbac = filters.slice(0, -1).map((f, i) => networkRbac(d, f, `${fp}[${i}]`));
  if (filters.length === 0) {
    d.fail(fp, "one network filter is required");
    return undefined;
  }
  const last = networkFilter(d, filters[filters.length - 1]!, `${fp}[${filters.length - 1}]`);
  if (last?.kind === "http" && rbac.length) d.fail(fp, "network filters before the HTTP connection manager are not supported");
  return last?.kind === "tcp" ? { ...last, authz: rbac.filter((x): x is RbacFilter => x !== undefined) } : last;
}

/** A `use_original_dst` listener: chains matched by the tunnel's original destination and detected protocol. */
function originalDst(d: Decoding, o: Obj, resource: string, addresses: ListenerAddress[]): Result<DecodedOriginalDst, ResourceError[]> {
  let httpInspector = false;
  arr(o.listenerFilters).forEach((f, i) => {
    const fp = `listener_filters[${i}]`;
    d.only(f, fp, ["name", "typedConfig"]);
    const tc = f.typedConfig !== undefined ? unpackAny(d, f.typedConfig, join(fp, "typed_config")) : undefined;
    if (str(f.name) !== HTTP_INSPECTOR_NAME || (tc && tc.typeUrl !== HTTP_INSPECTOR_TYPE_URL))
      return d.fail(fp, `listener filter ${JSON.stringify(f.name)} is not supported (only ${HTTP_INSPECTOR_NAME})`);
    httpInspector = true;
  });
  const chains: FilterChain<NetworkFilter>[] = [];
  const list = arr(o.filterChains);
  if (list.length === 0) d.fail("filter_chains", "at least one filter chain is required");
  list.forEach((c, i) => {
    const cp = `filter_chains[${i}]`;
    d.only(c, cp, ["filters", "filterChainMatch", "name"], ["metadata"]);
    const m = obj(c.filterChainMatch) ?? {};
    const mp = join(cp, "filter_chain_match");
    d.only(m, mp, ["prefixRanges", "applicationProtocols", "destinationPort"], ["transportProtocol"]);
    if (m.transportProtocol !== undefined && m.transportProtocol !== "raw_buffer")
      d.fail(join(mp, "transport_protocol"), "only raw_buffer");
    const prefixRanges: CidrRange[] = [];
    arr(m.prefixRanges).forEach((r, j) => {
      const rp = `${join(mp, "prefix_ranges")}[${j}]`;
      d.only(r, rp, ["addressPrefix", "prefixLen"]);
      const ip = canonicalIp(str(r.addressPrefix) ?? "");
      const max = ip?.includes(":") ? 128 : 32;
      const bits = wrapped<number>(r.prefixLen, 0) ?? 0;
      if (!ip) return d.fail(join(rp, "address_prefix"), `${JSON.stringify(r.addressPrefix)} is not an IP address`);
      if (bits < 0 || bits > max) return d.fail(join(rp, "prefix_len"), `${bits} is not a prefix length for ${ip}`);
      const cidr = parseCidr(`${ip}/${bits}`);
      if (!cidr.ok) return d.fail(rp, cidr.error.message);
      prefixRanges.push(cidr.value);
    });
    // weft refuses a catch-all chain: the waypoint would relay to any address it is handed.
    if (prefixRanges.length === 0) d.fail(join(mp, "prefix_ranges"), "required (a waypoint takes only the addresses bound to it)");
    const protocols = Array.isArray(m.applicationProtocols) ? m.applicationProtocols.map(String) : [];
    for (const p of protocols)
      if (!DETECTABLE.has(p)) d.fail(join(mp, "application_protocols"), `${p} cannot be detected (http/1.0, http/1.1, h2c)`);
    if (protocols.length && !httpInspector) d.fail(join(mp, "application_protocols"), `needs the ${HTTP_INSPECTOR_NAME} listener filter`);
    const port = wrapped<number>(m.destinationPort, 0) ?? 0;
    const filter = chainFilter(d, c, cp);
    if (filter)
      chains.push({
        name: str(c.name) ?? `chain-${i}`,
        prefixRanges,
        ...(port ? { destinationPort: port } : {}),
        applicationProtocols: protocols,
        filter,
      });
  });
  if (d.errors.length) return err(d.errors);
  return ok({ kind: "original_dst", name: resource, addresses, httpInspector, chains });
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
    ["statPrefix", "codecType", "rds", "routeConfig", "httpFilters", "upgradeConfigs", "tracing", "accessLog"],
    ["useRemoteAddress", "xffNumTrustedHops", "generateRequestId", "normalizePath", "mergeSlashes", "serverName"],
  );
  const codec = CODECS[str(o.codecType) ?? "AUTO"];
  if (!codec) d.fail(join(path, "codec_type"), `${String(o.codecType)} is not supported (AUTO, HTTP1, HTTP2)`);
  const filters = arr(o.httpFilters);
  const authz: AuthzHttpFilter[] = [];
  let faultFilter = false;
  let rateLimitFilter = false;
  const order: ("fault" | "rate_limit")[] = [];
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
    } else if (tc?.typeUrl === EXT_AUTHZ_TYPE_URL) {
      const e = decodeExtAuthzFilter(d, name, tc.value, tcp);
      if (e) authz.push(e);
    } else if (name === FAULT_NAME && (!tc || tc.typeUrl === FAULT_TYPE_URL)) {
      // Istio's chain: an empty HTTPFault before the router; the faults themselves are per route.
      if (tc) d.only(tc.value, tcp, []);
      faultFilter = true;
      order.push("fault");
    } else if (name === RATE_LIMIT_NAME && tc?.typeUrl === LOCAL_RATE_LIMIT_TYPE_URL) {
      // The buckets are per virtual host (typed_per_filter_config); a listener-wide one is not supported.
      d.only(tc.value, tcp, ["statPrefix"]);
      rateLimitFilter = true;
      order.push("rate_limit");
    } else if (name === ROUTER_NAME && (!tc || tc.typeUrl === ROUTER_TYPE_URL)) {
      if (i !== filters.length - 1) d.fail(fp, "the router must be the last http filter");
      if (tc) d.only(tc.value, tcp, [], ["dynamicStats", "startChildSpan", "suppressEnvoyHeaders"]);
    } else
      return d.fail(
        fp,
        `http filter ${JSON.stringify(f.name)} is not supported (only ${JWT_FILTER_NAME}, ${RBAC_FILTER_NAME}, ${EXT_AUTHZ_FILTER_NAME}, ${FAULT_NAME}, ${RATE_LIMIT_NAME}, then ${ROUTER_NAME})`,
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
  const accessLog = o.accessLog !== undefined ? decodeAccessLog(d, o.accessLog, join(path, "access_log")) : undefined;
  if (!codec || !routes) return undefined;
  return {
    kind: "http",
    statPrefix: str(o.statPrefix) ?? "",
    codec,
    routes,
    upgrades,
    authz,
    faultFilter,
    rateLimitFilter,
    filterOrder: order,
    ...(tracing ? { tracing } : {}),
    ...(accessLog?.length ? { accessLog } : {}),
  };
}
