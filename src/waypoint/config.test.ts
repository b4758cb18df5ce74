import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { DEFAULT_ADMIN, DEFAULT_HBONE_PORT, loadWaypointConfig } from "./config.js";
import { parseStaticWaypointConfig } from "./static-config.js";
import { waypointNode } from "./bootstrap.js";

const xds = ["--xds-address", "istiod:15012", "--token-file", "/t", "--root-cert", "/r"];

test("config: defaults, env fallbacks, and the contract's flags", () => {
  const r = loadWaypointConfig(["--name", "reviews-wp", ...xds], {
    POD_NAMESPACE: "bookinfo",
    POD_NAME: "reviews-wp-x1y2z",
    INSTANCE_IP: "10.1.2.3",
    NODE_NAME: "n1",
  });
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  const c = r.value;
  assert.equal(c.serviceAccount, "reviews-wp", "the service account defaults to the gateway name");
  assert.equal(c.namespace, "bookinfo");
  assert.equal(c.hbonePort, DEFAULT_HBONE_PORT);
  assert.equal(`${c.admin.ip}:${c.admin.port}`, DEFAULT_ADMIN);
  assert.equal(c.controlPlaneSan, "spiffe://cluster.local/ns/istio-system/sa/istiod");
  assert.ok(Object.isFrozen(c));
  assert.deepEqual(waypointNode(c), {
    id: "router~10.1.2.3~reviews-wp-x1y2z.bookinfo~bookinfo.svc.cluster.local",
    metadata: {
      WAYPOINT: "bookinfo/reviews-wp",
      NAMESPACE: "bookinfo",
      SERVICE_ACCOUNT: "reviews-wp",
      CLUSTER_ID: "Kubernetes",
      NODE_NAME: "n1",
      INSTANCE_IPS: "10.1.2.3",
    },
  });
  const flags = loadWaypointConfig(
    ["--name", "w", "--namespace", "ns", "--service-account", "sa", "--hbone-port", "16008", "--trust-domain", "td.example", ...xds],
    {},
  );
  assert.ok(flags.ok);
  assert.equal(flags.value.serviceAccount, "sa");
  assert.equal(flags.value.hbonePort, 16008);
  assert.equal(flags.value.controlPlaneSan, "spiffe://td.example/ns/istio-system/sa/istiod");
});

test("config: errors name the flag", () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [[...xds], { POD_NAMESPACE: "ns" }, /--name/],
    [["--name", "w", ...xds], {}, /--namespace/],
    [["--name", "w", "--namespace", "n"], {}, /no configuration source/],
    [["--name", "w", "--namespace", "n", "--xds-address", "x:1"], {}, /--token-file/],
    [["--name", "w", "--namespace", "n", "--hbone-port", "0", ...xds], {}, /--hbone-port must be an integer/],
    [["--name", "w", "--namespace", "n", "--admin", "nope", ...xds], {}, /--admin/],
    [["--name", "w", "--namespace", "n", "--pod-ip", "x", ...xds], {}, /--pod-ip/],
    [["--name", "w", "--namespace", "n", "--bogus", ...xds], {}, /bogus/],
    [["--name", "w", "--namespace", "n", "--config", "/nonexistent.yaml", "--ca-dir", "/ca"], {}, /--config \/nonexistent.yaml/],
  ];
  for (const [argv, env, want] of cases) {
    const r = loadWaypointConfig(argv, env);
    assert.ok(!r.ok, argv.join(" "));
    assert.match(r.error.message, want);
  }
});

test("config: a static file of Envoy resources is decoded like xDS, or rejected whole naming resource and field", () => {
  const dir = mkdtempSync(join(tmpdir(), "weft-wp-"));
  const good = {
    static_resources: {
      clusters: [
        {
          name: "c",
          type: "STATIC",
          load_assignment: {
            cluster_name: "c",
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } }] }],
          },
        },
      ],
    },
  };
  writeFileSync(join(dir, "good.yaml"), stringify(good));
  const r = loadWaypointConfig(["--name", "w", "--namespace", "n", "--config", join(dir, "good.yaml"), "--ca-dir", dir], {});
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  assert.equal(r.value.static?.resources.get("cluster")?.[0]?.name, "c");
  const bad = parseStaticWaypointConfig(
    stringify({
      static_resources: {
        clusters: [{ name: "c", type: "STATIC", lb_policy: "CLUSTER_PROVIDED", load_assignment: { cluster_name: "c" } }],
        secrets: [],
      },
    }),
  );
  assert.ok(!bad.ok);
  const text = bad.error.map((e) => `${e.resource}: ${e.field}: ${e.reason}`).join("; ");
  assert.match(text, /c: static_resources\.clusters\[0\]\.lb_policy: CLUSTER_PROVIDED is not supported/);
  assert.match(text, /static_resources\.secrets: unknown field/);
  const dup = parseStaticWaypointConfig(
    stringify({ static_resources: { clusters: [good.static_resources.clusters[0], good.static_resources.clusters[0]] } }),
  );
  assert.ok(!dup.ok);
  assert.match(dup.error[0]!.reason, /duplicate/);
});
