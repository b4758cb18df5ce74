/**
 * A ztunnel config for in-process tests: no capture, a static workload/service set, the
 * default ports on `bindAddress`, short drain. Fields the test cares about are overridden.
 */
import { DEFAULT_PORTS, type ZtunnelConfig } from "../../src/ztunnel/config.js";
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
    ...over,
  };
}
