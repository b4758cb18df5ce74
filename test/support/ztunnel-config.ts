/**
 * A ztunnel config for in-process tests: no capture, a static workload/service set, the
 * default ports on `bindAddress`, short drain. Fields the test cares about are overridden.
 * And a started pair of them for waypoint tests.
 */
import assert from "node:assert/strict";
import type { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { ZTUNNEL_DEFAULT_ENGINE } from "../../src/proxy/hbone/engine.js";
import { DEFAULT_PORTS, type ZtunnelConfig } from "../../src/ztunnel/config.js";
import { testEngine } from "./engine.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import type { StaticConfig } from "../../src/ztunnel/static-config.js";

export function staticZtunnelConfig(
  node: string,
  bindAddress: string,
  contents: Pick<StaticConfig, "workloads" | "services">,
  over: Partial<ZtunnelConfig> = {},
): ZtunnelConfig {
  return {
    node,
    trustDomain: "cluster.local",
    network: "",
    clusterId: "cluster1",
    bindAddress,
    ports: DEFAULT_PORTS,
    capture: "none",
    outboundListeners: [],
    certTtlSeconds: 3600,
    drainSeconds: 1,
    ztunnelMark: 0x539,
    xdsSan: "spiffe://cluster.local/ns/istio-system/sa/istiod",
    static: { settings: {}, ...contents },
    // WEFT_HBONE_ENGINE=node|native picks the in-process ztunnels' engine (default: the ztunnel's).
    hboneEngine: testEngine(ZTUNNEL_DEFAULT_ENGINE),
    ...over,
  };
}

/**
 * Two in-process ztunnels for waypoint tests, started with the same CA: node-a (at `ips.a`,
 * the client side, with the outbound listeners) and node-b (at `ips.b`, serving the backends).
 */
export async function startZtunnelPair(
  ips: { readonly a: string; readonly b: string },
  contents: Pick<StaticConfig, "workloads" | "services">,
  outboundListeners: ZtunnelConfig["outboundListeners"],
  client: LocalCaClient,
): Promise<[Ztunnel, Ztunnel]> {
  const za = new Ztunnel(staticZtunnelConfig("node-a", ips.a, contents, { outboundListeners }), {
    caClient: client,
    rootsPem: client.rootsPem,
  });
  const zb = new Ztunnel(staticZtunnelConfig("node-b", ips.b, contents), { caClient: client, rootsPem: client.rootsPem });
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  return [za, zb];
}
