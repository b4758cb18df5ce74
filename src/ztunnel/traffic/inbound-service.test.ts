import { test } from "node:test";
import assert from "node:assert/strict";
import type { Service } from "../../common/model/service.js";
import type { Workload } from "../../common/model/workload.js";
import { guessInboundService } from "./inbound-service.js";

const svc = (name: string, ports: Array<[number, number]>): Service => ({
  name,
  namespace: "demo",
  hostname: `${name}.demo.svc.cluster.local`,
  addresses: [],
  ports: ports.map(([servicePort, targetPort]) => ({ servicePort, targetPort, appProtocol: "UNKNOWN" })),
  subjectAltNames: [],
});
const services = new Map([
  ["demo/web.demo.svc.cluster.local", svc("web", [[80, 8080]])],
  ["demo/admin.demo.svc.cluster.local", svc("admin", [[9000, 0]])],
  ["demo/other.demo.svc.cluster.local", svc("other", [[80, 8080]])],
]);
const w = {
  services: new Map([
    ["demo/web.demo.svc.cluster.local", [{ servicePort: 80, targetPort: 8080 }]],
    ["demo/admin.demo.svc.cluster.local", [{ servicePort: 9000, targetPort: 9090 }]],
  ]),
} as unknown as Workload;
const lookup = (k: string) => services.get(k);

test("guessInboundService: the forwarded host among the workload's services, else by target port", () => {
  const cases: Array<[number, string | undefined, string | undefined]> = [
    [8080, undefined, "web"],
    [9090, undefined, "admin"], // named target port: the workload's mapping says 9000 -> 9090
    [8080, "admin.demo.svc.cluster.local", "admin"],
    [8080, "other.demo.svc.cluster.local", "web"], // not a service of this workload: ignored
    [7777, undefined, undefined],
  ];
  for (const [port, host, want] of cases) assert.equal(guessInboundService(lookup, w, port, host)?.name, want, `${port} ${host}`);
});
