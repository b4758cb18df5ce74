import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig } from "../mesh-config.js";
import type { Problem } from "./routes/context.js";
import { tracingFor } from "./telemetry.js";

const mesh: MeshConfig = {
  ...DEFAULT_MESH_CONFIG,
  extensionProviders: [
    { name: "otel", service: "otel.obs.svc.cluster.local", port: 4317 },
    { name: "other", service: "other.obs.svc.cluster.local", port: 4317 },
  ],
};
const tel = (ns: string, name: string, spec: Record<string, unknown>, at = "2026-01-01T00:00:00Z"): KubeObject => ({
  apiVersion: "telemetry.istio.io/v1",
  kind: "Telemetry",
  metadata: { name, namespace: ns, annotations: {}, ...({ creationTimestamp: at } as object) },
  spec,
});
const WP = { namespace: "shop", name: "waypoint" };
const run = (m: MeshConfig, ts: KubeObject[]) => {
  const problems: Problem[] = [];
  return { t: tracingFor(m, ts, "istio-system", WP, problems), problems };
};

void describe("waypoint tracing from Telemetry and the mesh config", () => {
  void it("no Telemetry: the mesh's default provider at defaultConfig sampling; none when there is none or tracing is off", () => {
    assert.equal(run(mesh, []).t, undefined);
    const d = run({ ...mesh, defaultTracingProviders: ["otel"] }, []).t!;
    assert.deepEqual([d.provider.name, d.samplingPercent, d.serviceName], ["otel", 1, "waypoint.shop"]);
    assert.equal(run({ ...mesh, defaultTracingProviders: ["otel"], enableTracing: false }, []).t, undefined);
  });

  void it("mesh-wide, namespace and targetRefs levels: the most specific field wins", () => {
    const ts = [
      tel("istio-system", "mesh", { tracing: [{ providers: [{ name: "otel" }], randomSamplingPercentage: 5 }] }),
      tel("shop", "ns", { tracing: [{ randomSamplingPercentage: 50 }] }),
      tel("shop", "wp", {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" }],
        tracing: [{ providers: [{ name: "other" }] }],
      }),
      tel("shop", "else", { targetRefs: [{ kind: "Gateway", name: "another" }], tracing: [{ disableSpanReporting: true }] }),
      tel("shop", "sidecars", { selector: { matchLabels: { app: "x" } }, tracing: [{ disableSpanReporting: true }] }),
    ];
    const r = run(mesh, ts);
    assert.deepEqual([r.t!.provider.name, r.t!.samplingPercent], ["other", 50]);
    assert.deepEqual(r.problems, []);
    const off = run(mesh, [
      ...ts,
      tel(
        "shop",
        "wp-off",
        { targetRefs: [{ kind: "Gateway", name: "waypoint" }], tracing: [{ disableSpanReporting: true }] },
        "2025-01-01T00:00:00Z",
      ),
    ]);
    assert.equal(off.t, undefined, "the older targetRefs Telemetry applies: span reporting disabled");
    assert.match(off.problems[0]!.reason, /ignored: Telemetry shop\/wp-off is older/);
  });

  void it("an unknown provider or a bad percentage is reported naming object and field, and no spans are sent", () => {
    const r = run(mesh, [tel("shop", "ns", { tracing: [{ providers: [{ name: "nope" }], randomSamplingPercentage: 120 }] })]);
    assert.equal(r.t, undefined);
    assert.deepEqual(
      r.problems.map((p) => `${p.object} ${p.field}`),
      ["Telemetry shop/ns spec.tracing[0].randomSamplingPercentage", "Telemetry shop/ns spec.tracing[0].providers[0].name"],
    );
  });
});
