import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../../kube/object.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig } from "../mesh-config.js";
import type { Problem } from "./routes/context.js";
import { accessLoggingFor, telemetryChain, tracingFor } from "./telemetry.js";

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
  return { t: tracingFor(m, telemetryChain(ts, "istio-system", WP, problems), WP, problems), problems };
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

void describe("waypoint access logging from Telemetry and the mesh config (Istio's resolution)", () => {
  const logMesh = (over: Partial<MeshConfig> = {}): MeshConfig => ({
    ...DEFAULT_MESH_CONFIG,
    accessLogProviders: [
      ...DEFAULT_MESH_CONFIG.accessLogProviders,
      { name: "json", path: "/dev/stdout", encoding: "JSON", customFormat: false },
      { name: "file", path: "/var/log/wp.log", encoding: "TEXT", customFormat: false },
      { name: "fancy", path: "/dev/stdout", encoding: "TEXT", customFormat: true },
    ],
    ...over,
  });
  const logs = (m: MeshConfig, ts: KubeObject[], memory?: Map<string, never>) => {
    const problems: Problem[] = [];
    const r = accessLoggingFor(m, telemetryChain(ts, "istio-system", WP, problems), problems, memory);
    return {
      r: r.map((l) => `${l.provider}:${l.path}:${l.encoding}`),
      problems: problems.map((p) => `${p.object} ${p.field}: ${p.reason}`),
    };
  };
  const wpRef = { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" }] };
  const on = (providers?: string[], extra: Record<string, unknown> = {}) => ({
    accessLogging: [{ ...(providers ? { providers: providers.map((name) => ({ name })) } : {}), ...extra }],
  });

  const cases: [string, MeshConfig, KubeObject[], string[]][] = [
    ["Istio's default: nothing", logMesh(), [], []],
    ["legacy accessLogFile, TEXT by default", logMesh({ accessLogFile: "/dev/stdout" }), [], ["accessLogFile:/dev/stdout:TEXT"]],
    [
      "legacy accessLogFile with JSON encoding",
      logMesh({ accessLogFile: "/dev/stdout", accessLogEncoding: "JSON" }),
      [],
      ["accessLogFile:/dev/stdout:JSON"],
    ],
    ["defaultProviders.accessLogging without Telemetry", logMesh({ defaultAccessLogProviders: ["json"] }), [], ["json:/dev/stdout:JSON"]],
    ["mesh-wide Telemetry naming envoy", logMesh(), [tel("istio-system", "mesh", on(["envoy"]))], ["envoy:/dev/stdout:TEXT"]],
    [
      "a Telemetry wins over the legacy accessLogFile",
      logMesh({ accessLogFile: "/dev/stdout" }),
      [tel("istio-system", "mesh", on(["file"]))],
      ["file:/var/log/wp.log:TEXT"],
    ],
    [
      "an entry without providers enables the default providers",
      logMesh({ defaultAccessLogProviders: ["json"] }),
      [tel("shop", "ns", on())],
      ["json:/dev/stdout:JSON"],
    ],
    [
      "namespace disables the mesh-wide provider",
      logMesh(),
      [tel("istio-system", "mesh", on(["envoy"])), tel("shop", "ns", on(undefined, { disabled: true }))],
      [],
    ],
    [
      "targetRefs re-enables below a namespace disable",
      logMesh(),
      [
        tel("istio-system", "mesh", on(["envoy"])),
        tel("shop", "ns", on(undefined, { disabled: true })),
        tel("shop", "wp", { ...wpRef, ...on(["envoy"]) }),
      ],
      ["envoy:/dev/stdout:TEXT"],
    ],
    [
      "the most specific providers replace the inherited ones",
      logMesh(),
      [tel("istio-system", "mesh", on(["envoy"])), tel("shop", "wp", { ...wpRef, ...on(["json"]) })],
      ["json:/dev/stdout:JSON"],
    ],
    [
      "another Gateway's, a selector's, another namespace's Telemetry do not apply",
      logMesh(),
      [
        tel("shop", "else", { targetRefs: [{ kind: "Gateway", name: "another" }], ...on(["envoy"]) }),
        tel("shop", "sidecars", { selector: { matchLabels: { app: "x" } }, ...on(["envoy"]) }),
        tel("other", "ns", on(["envoy"])),
      ],
      [],
    ],
    [
      "match.mode CLIENT is not a waypoint's (server side)",
      logMesh(),
      [tel("shop", "ns", on(["envoy"], { match: { mode: "CLIENT" } }))],
      [],
    ],
    ["match.mode SERVER applies", logMesh(), [tel("shop", "ns", on(["envoy"], { match: { mode: "SERVER" } }))], ["envoy:/dev/stdout:TEXT"]],
    [
      "two providers: two loggers",
      logMesh(),
      [tel("shop", "ns", on(["envoy", "file"]))],
      ["envoy:/dev/stdout:TEXT", "file:/var/log/wp.log:TEXT"],
    ],
  ];
  for (const [what, m, ts, want] of cases)
    void it(what, () => {
      const { r, problems } = logs(m, ts);
      assert.deepEqual(r, want);
      assert.deepEqual(problems, []);
    });

  void it("an unknown provider, a custom format and an older Telemetry at the same level are reported naming object and field", () => {
    const a = logs(logMesh(), [tel("shop", "ns", on(["nope"]))]);
    assert.deepEqual(a.r, []);
    assert.match(
      a.problems[0]!,
      /^Telemetry shop\/ns spec\.accessLogging\[\]\.providers\[\]\.name: no envoyFileAccessLog extensionProvider "nope"/,
    );
    const b = logs(logMesh(), [tel("shop", "ns", on(["fancy"]))]);
    assert.deepEqual(b.r, ["fancy:/dev/stdout:TEXT"]);
    assert.match(
      b.problems[0]!,
      /^mesh config extensionProviders\["fancy"\]\.envoyFileAccessLog\.logFormat: weft writes Istio's default TEXT format/,
    );
    const c = logs(logMesh({ accessLogFile: "/dev/stdout", accessLogFormat: "%START_TIME%" }), []);
    assert.deepEqual(c.r, ["accessLogFile:/dev/stdout:TEXT"]);
    assert.match(c.problems[0]!, /^mesh config accessLogFormat: /);
    const d = logs(logMesh({ defaultAccessLogProviders: ["nope"] }), []);
    assert.match(d.problems[0]!, /^mesh config defaultProviders\.accessLogging: /);
    const e = logs(logMesh(), [
      tel("shop", "new", on(["envoy"])),
      tel("shop", "old", on(undefined, { disabled: true }), "2025-01-01T00:00:00Z"),
      tel("istio-system", "mesh", on(["envoy"])),
    ]);
    assert.deepEqual(e.r, [], "the older namespace Telemetry applies");
    assert.match(e.problems[0]!, /^Telemetry shop\/new metadata: ignored: Telemetry shop\/old is older/);
  });

  void it("an invalid accessLogging never turns logging on and keeps the last good entries", () => {
    const memory = new Map<string, never>();
    const mesh = logMesh();
    const base = tel("istio-system", "mesh", on(["envoy"]));
    const bad: [Record<string, unknown>, string][] = [
      [{ accessLogging: { providers: [] } }, "spec.accessLogging: want a list of access logging settings"],
      [{ accessLogging: [{ providers: "envoy" }] }, "spec.accessLogging[0].providers: want a list of { name }"],
      [{ accessLogging: [{ disabled: "yes" }] }, "spec.accessLogging[0].disabled: want true or false"],
      [
        { accessLogging: [{ match: { mode: "BOTH" } }] },
        'spec.accessLogging[0].match.mode: "BOTH" is not CLIENT, SERVER or CLIENT_AND_SERVER',
      ],
      [{ accessLogging: [{ filter: { expression: "response.code >= 400" } }] }, "spec.accessLogging[0].filter: not supported by weft"],
    ];
    for (const [spec, field] of bad) {
      // Never seen valid: the level disables the inherited provider (mesh-wide envoy is on).
      const r = logs(mesh, [base, tel("shop", "ns", spec)], memory);
      assert.deepEqual(r.r, [], field);
      assert.ok(r.problems[0]!.startsWith(`Telemetry shop/ns ${field}`), `${r.problems[0]} / ${field}`);
      assert.match(r.problems[1]!, /Telemetry shop\/ns spec\.accessLogging: no access logging from it until it is fixed/);
    }
    // Seen valid (logs to the JSON provider), then broken: keeps logging as before.
    assert.deepEqual(logs(mesh, [base, tel("shop", "ns", on(["json"]))], memory).r, ["json:/dev/stdout:JSON"]);
    const kept = logs(mesh, [base, tel("shop", "ns", { accessLogging: [{ disabled: 1 }] })], memory);
    assert.deepEqual(kept.r, ["json:/dev/stdout:JSON"]);
    assert.match(kept.problems[1]!, /keeps its last good access logging/);
    // Off without any Telemetry: an invalid one does not turn it on.
    assert.deepEqual(logs(mesh, [tel("istio-system", "broken", { accessLogging: [{ providers: [{ name: 3 }] }] })]).r, []);
  });
});
