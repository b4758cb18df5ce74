/**
 * Metrics hooks of the ADS server, and a prom-client implementation with istiod's metric names
 * where one exists (`pilot_xds` connected clients, `pilot_xds_pushes`, `pilot_total_xds_rejects`).
 */
import { Counter, Gauge, type Registry } from "prom-client";

export interface XdsMetrics {
  clientConnected(): void;
  clientDisconnected(): void;
  /** One response sent: its type, resource count, removal count, and encoded size. */
  pushed(typeUrl: string, resources: number, removals: number, bytes: number): void;
  nacked(typeUrl: string): void;
}

export const noXdsMetrics: XdsMetrics = {
  clientConnected: () => {},
  clientDisconnected: () => {},
  pushed: () => {},
  nacked: () => {},
};

const shortType = (t: string) => t.slice(t.lastIndexOf("/") + 1);

export function promXdsMetrics(registry: Registry): XdsMetrics {
  const clients = new Gauge({ name: "pilot_xds", help: "Connected xDS clients", registers: [registry] });
  const pushes = new Counter({ name: "pilot_xds_pushes", help: "xDS responses sent", labelNames: ["type"], registers: [registry] });
  const bytes = new Counter({
    name: "weft_xds_sent_bytes_total",
    help: "Bytes of xDS responses sent",
    labelNames: ["type"],
    registers: [registry],
  });
  const resources = new Counter({
    name: "weft_xds_sent_resources_total",
    help: "Resources sent (upserts and removals)",
    labelNames: ["type"],
    registers: [registry],
  });
  const rejects = new Counter({ name: "pilot_total_xds_rejects", help: "NACKs received", labelNames: ["type"], registers: [registry] });
  return {
    clientConnected: () => clients.inc(),
    clientDisconnected: () => clients.dec(),
    pushed: (t, n, r, b) => {
      const type = shortType(t);
      pushes.inc({ type });
      bytes.inc({ type }, b);
      resources.inc({ type }, n + r);
    },
    nacked: (t) => rejects.inc({ type: shortType(t) }),
  };
}
