/**
 * A WaypointConfig for in-process tests: pod `waypoint` in `default`, every port on `ip`, the
 * Envoy resources from a parsed static file, no control plane; and starting such a waypoint
 * with the Address state the test's ztunnels use (alone, or with one client ztunnel).
 */
import assert from "node:assert/strict";
import type { Service } from "../../src/common/model/service.js";
import type { Workload } from "../../src/common/model/workload.js";
import { WAYPOINT_DEFAULT_ENGINE } from "../../src/proxy/hbone/engine.js";
import type { WaypointConfig } from "../../src/waypoint/config.js";
import { testEngine } from "./engine.js";
import type { StaticWaypointConfig } from "../../src/waypoint/static-config.js";
import { Waypoint } from "../../src/waypoint/waypoint.js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { parseStaticWaypointConfig } from "../../src/waypoint/static-config.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";
import { staticZtunnelConfig } from "./ztunnel-config.js";
import { ACCESS_LOG_JSON } from "./access-log.js";
import { service, workload } from "./model.js";

export function staticWaypointConfig(
  ip: string,
  resources: StaticWaypointConfig | undefined,
  over: Partial<WaypointConfig> = {},
): WaypointConfig {
  return {
    name: "waypoint",
    namespace: "default",
    serviceAccount: "waypoint",
    trustDomain: "cluster.local",
    clusterId: "cluster1",
    network: "",
    node: "node-w",
    podName: "waypoint-abcde",
    podIp: ip,
    listen: ip,
    hbonePort: 15008,
    admin: { ip, port: 15000 },
    metrics: { ip, port: 15020 },
    readiness: { ip, port: 15021 },
    controlPlaneSan: "spiffe://cluster.local/ns/istio-system/sa/istiod",
    caDir: "(in-process CA)",
    certTtlSeconds: 3600,
    drainSeconds: 1,
    staticFile: "fixture.ts",
    ...(resources ? { static: resources } : {}),
    // WEFT_HBONE_ENGINE=node|native picks the in-process waypoints' engine (both sides; default: the waypoint's).
    hboneEngine: testEngine(WAYPOINT_DEFAULT_ENGINE),
    ...over,
  };
}

/** Gives the waypoint the workloads and services (as xDS would) and starts it; asserts both. */
export async function startWithAddresses(wp: Waypoint, workloads: readonly Workload[], services: readonly Service[]): Promise<void> {
  const addrs = wp.mutator.applyAddresses(
    [
      ...workloads.map((value) => ({ kind: "workload" as const, value })),
      ...services.map((value) => ({ kind: "service" as const, value })),
    ],
    [],
  );
  assert.ok(addrs.ok);
  const started = await wp.start();
  assert.ok(started.ok, !started.ok ? started.error.message : "");
}

/** A client ztunnel and a waypoint from a static file, on one in-process CA (the single-ztunnel tests' setup). */
export interface MeshWithWaypoint {
  readonly zt: Ztunnel;
  readonly wp: Waypoint;
}

/** Addresses of that setup: the ztunnel, its client workload, the waypoint, the service VIP and the waypoint's. */
export interface MeshAddresses {
  readonly zt: string;
  readonly client: string;
  readonly waypoint: string;
  readonly vip: string;
  readonly waypointVip: string;
}

/**
 * Starts a ztunnel on node-a at `ip.zt` capturing `ip.vip:80` for its client workload, and a
 * waypoint (node-w) serving the service `service` (that VIP, port 80 to 8080, bound to the
 * waypoint) with the Envoy resources of `staticFile` (parsed here; `name` is what its config
 * reports); asserts each step. The caller stops both.
 */
export async function startMeshWithWaypoint(opts: {
  readonly ip: MeshAddresses;
  readonly service: string;
  readonly staticFile: string;
  readonly name: string;
  readonly accessLog: (e: AccessLogEntry) => void;
}): Promise<MeshWithWaypoint> {
  const { ip } = opts;
  const waypoint = {
    kind: "hostname" as const,
    namespace: "default",
    hostname: "waypoint.default.svc.cluster.local",
    hboneMtlsPort: 15008,
  };
  const workloads = [
    workload({ name: "client", addresses: [ip.client], node: "node-a" }),
    workload({
      name: "waypoint",
      addresses: [ip.waypoint],
      node: "node-w",
      services: { "default/waypoint.default.svc.cluster.local": [{ servicePort: 15008, targetPort: 15008 }] },
    }),
  ];
  const services = [
    service({ name: opts.service, vips: [ip.vip], ports: [{ servicePort: 80, targetPort: 8080 }], waypoint }),
    service({ name: "waypoint", vips: [ip.waypointVip], ports: [{ servicePort: 15008, targetPort: 15008 }] }),
  ];
  const parsed = parseStaticWaypointConfig(opts.staticFile);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.error));
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  const zt = new Ztunnel(staticZtunnelConfig("node-a", ip.zt, { workloads, services }, { outboundListeners: [{ ip: ip.vip, port: 80 }] }), {
    caClient: client,
    rootsPem: client.rootsPem,
  });
  const z = await zt.start();
  assert.ok(z.ok, !z.ok ? z.error.message : "");
  const cfg = staticWaypointConfig(ip.waypoint, parsed.value, { podName: "waypoint-0", staticFile: opts.name });
  const wp = new Waypoint(cfg, { caClient: client, rootsPem: client.rootsPem, accessLog: opts.accessLog });
  await startWithAddresses(wp, workloads, services);
  return { zt, wp };
}

/**
 * A static-file listener on `vip:80`: an HTTP connection manager named `name` (codec HTTP/1.1, or
 * `codec`) with `routes` in one catch-all virtual host and the router filter; access log on (its tests read it).
 */
export function httpListener(
  name: string,
  vip: string,
  routes: readonly Record<string, unknown>[],
  codec: "HTTP1" | "AUTO" = "HTTP1",
): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: vip, port_value: 80 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              codec_type: codec,
              route_config: { name, virtual_hosts: [{ name, domains: ["*"], routes }] },
              http_filters: [
                {
                  name: "envoy.filters.http.router",
                  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                },
              ],
              access_log: ACCESS_LOG_JSON,
            },
          },
        ],
      },
    ],
  };
}
