import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseStaticConfig } from "./static-config.js";

const good = `
node: node-a
trustDomain: example.org
bindAddress: 127.0.0.2
outboundListeners: ["127.0.10.1:80"]
ports: { socks5: 1080 }
workloads:
  - name: client
    serviceAccount: sleep
    node: node-a
    addresses: [127.0.1.1]
  - name: echo
    namespace: apps
    node: node-b
    addresses: ["::ffff:127.0.2.1"]
    services: { "apps/echo.apps.svc.cluster.local": [{ servicePort: 80, targetPort: 8080 }] }
services:
  - name: echo
    namespace: apps
    addresses: [127.0.10.1]
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: HTTP11 }]
`;

test("static config: a complete file parses into domain objects with defaults", () => {
  const r = parseStaticConfig(parse(good));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const { settings, workloads, services } = r.value;
  assert.equal(settings.node, "node-a");
  assert.deepEqual(settings.ports, { socks5: 1080 });
  assert.equal(workloads[0]!.uid, "Kubernetes//Pod/default/client");
  assert.equal(workloads[0]!.trustDomain, "example.org");
  assert.equal(workloads[1]!.addresses[0], "127.0.2.1", "addresses are canonical");
  assert.deepEqual(
    [...workloads[1]!.services.entries()],
    [["apps/echo.apps.svc.cluster.local", [{ servicePort: 80, targetPort: 8080, appProtocol: "UNKNOWN" }]]],
  );
  assert.equal(services[0]!.hostname, "echo.apps.svc.cluster.local");
  assert.equal(services[0]!.ports[0]!.appProtocol, "HTTP11");
});

test("static config: every error names its field, and nothing is returned", () => {
  const cases: Array<[string, string[]]> = [
    ["nodee: x", ["nodee"]],
    ["workloads: [{ name: a, node: n, addresses: [1.2.3] }]", ["workloads[0].addresses[0]"]],
    ["workloads: [{ name: a, addresses: [1.2.3.4] }]", ["workloads[0].node"]],
    ["workloads: [{ name: a, node: n, addresses: [] }]", ["workloads[0].addresses"]],
    ["workloads: [{ name: a, node: n, addresses: [1.2.3.4], tunnelProtocol: IPSEC }]", ["workloads[0].tunnelProtocol"]],
    ["workloads: [{ name: a, node: n, addresses: [1.2.3.4], services: { bad: [] } }]", ["workloads[0].services[bad]"]],
    ["services: [{ name: s, addresses: [1.2.3.4], ports: [{ servicePort: 0 }] }]", ["services[0].ports[0].servicePort"]],
    ["services: [{ name: s, ports: [{ servicePort: 80, color: red }] }]", ["services[0].ports[0].color"]],
    ["workloads: [{ name: a, node: n, addresses: [1.2.3.4] }, { name: b, node: n, addresses: [1.2.3.4] }]", ["workloads[1].addresses"]],
    ["ports: { web: 80 }", ["ports.web"]],
    ["bindAddress: localhost", ["bindAddress"]],
    ["- a list", ["<root>"]],
  ];
  for (const [yaml, fields] of cases) {
    const r = parseStaticConfig(parse(yaml));
    assert.ok(!r.ok, yaml);
    assert.deepEqual(
      r.error.map((e) => e.field),
      fields,
      yaml,
    );
  }
});
