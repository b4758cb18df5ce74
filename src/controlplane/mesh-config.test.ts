import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MESH_CONFIG, parseMeshConfig } from "./mesh-config.js";

void describe("mesh config (Istio's MeshConfig, the part weft reads)", () => {
  void it("reads opentelemetry providers (gRPC and HTTP), default providers and sampling; ignores other fields and kinds", () => {
    const r = parseMeshConfig(
      `accessLogFile: /dev/stdout
enableTracing: true
defaultConfig: { tracing: { sampling: 10 } }
defaultProviders: { tracing: [otel] }
extensionProviders:
  - name: otel
    opentelemetry: { service: otel-collector.observability.svc.cluster.local, port: 4317 }
  - name: otel-http
    opentelemetry:
      service: otel-collector.observability.svc.cluster.local
      port: 4318
      http: { path: /v1/traces, timeout: 2s, headers: [{ name: x-tenant, value: a }] }
  - name: ext-authz
    envoyExtAuthzHttp: { service: authz.svc, port: 9000 }
`,
      "mesh.yaml",
    );
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    assert.deepEqual(r.value.defaultTracingProviders, ["otel"]);
    assert.equal(r.value.defaultSamplingPercent, 10);
    assert.deepEqual(
      r.value.extensionProviders.map((p) => [p.name, p.port, p.http?.timeoutMs]),
      [
        ["otel", 4317, undefined],
        ["otel-http", 4318, 2000],
      ],
    );
    assert.deepEqual(r.value.extensionProviders[1]!.http!.headers, { "x-tenant": "a" });
  });

  void it("defaults as Istio's: tracing enabled, 1 % sampling, no providers; an empty file is the default", () => {
    const r = parseMeshConfig("", "empty.yaml");
    assert.ok(r.ok);
    assert.deepEqual(r.value, DEFAULT_MESH_CONFIG);
  });

  void it("names the file and each bad field; nothing of a bad config applies", () => {
    const cases: [string, RegExp][] = [
      [
        "extensionProviders: [{ name: a, opentelemetry: { service: s, port: 99999 } }]",
        /extensionProviders\[0\]\.opentelemetry\.port: 99999 is not a port/,
      ],
      ["extensionProviders: [{ name: a, opentelemetry: { port: 1 } }]", /extensionProviders\[0\]\.opentelemetry\.service: want a hostname/],
      ["extensionProviders: [{ name: a }, { name: a }]", /extensionProviders\[1\]\.name: "a" is given twice/],
      [
        "extensionProviders: [{ name: a, opentelemetry: { service: s, port: 1, http: { timeout: soon } } }]",
        /http\.timeout: "soon" is not a duration/,
      ],
      ["defaultConfig: { tracing: { sampling: 200 } }", /defaultConfig\.tracing\.sampling: 200 is not a percentage/],
      ["defaultProviders: { tracing: otel }", /defaultProviders\.tracing: want a list/],
      ["enableTracing: maybe", /enableTracing: want true or false/],
      ["accessLogFile: stdout", /accessLogFile: "stdout" is not an absolute path/],
      ["accessLogEncoding: XML", /accessLogEncoding: "XML" is not TEXT or JSON/],
      ["defaultProviders: { accessLogging: envoy }", /defaultProviders\.accessLogging: want a list of provider names/],
      ["extensionProviders: [{ name: f, envoyFileAccessLog: { path: log } }]", /extensionProviders\[0\]\.envoyFileAccessLog\.path: "log"/],
      [
        "extensionProviders: [{ name: f, envoyFileAccessLog: { logFormat: { text: a, labels: {} } } }]",
        /envoyFileAccessLog\.logFormat: text and labels exclude each other/,
      ],
      ["- a list", /want a mapping of MeshConfig fields/],
      ["a: [", /not YAML/],
    ];
    for (const [text, want] of cases) {
      const r = parseMeshConfig(text, "m.yaml");
      assert.ok(!r.ok, text);
      assert.match(r.error.message, /^mesh config m\.yaml: /);
      assert.match(r.error.message, want, text);
    }
  });

  void it("access logging: off by default (Istio's), the built-in envoy provider, file providers, accessLogFile and encoding", () => {
    assert.deepEqual(
      [DEFAULT_MESH_CONFIG.accessLogFile, DEFAULT_MESH_CONFIG.accessLogEncoding, DEFAULT_MESH_CONFIG.defaultAccessLogProviders],
      ["", "TEXT", []],
    );
    assert.deepEqual(DEFAULT_MESH_CONFIG.accessLogProviders, [
      { name: "envoy", path: "/dev/stdout", encoding: "TEXT", customFormat: false },
    ]);
    const r = parseMeshConfig(
      `accessLogFile: /dev/stdout
accessLogEncoding: JSON
defaultProviders: { accessLogging: [json] }
extensionProviders:
  - name: json
    envoyFileAccessLog: { path: /dev/stdout, logFormat: { labels: {} } }
  - name: custom
    envoyFileAccessLog: { path: /var/log/a.log, logFormat: { text: "%START_TIME%\\n" } }
`,
      "mesh.yaml",
    );
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    assert.deepEqual(
      [r.value.accessLogFile, r.value.accessLogEncoding, r.value.defaultAccessLogProviders],
      ["/dev/stdout", "JSON", ["json"]],
    );
    assert.deepEqual(
      r.value.accessLogProviders.map((p) => [p.name, p.path, p.encoding, p.customFormat]),
      [
        ["json", "/dev/stdout", "JSON", false],
        ["custom", "/var/log/a.log", "TEXT", true],
        ["envoy", "/dev/stdout", "TEXT", false],
      ],
    );
    const own = parseMeshConfig("extensionProviders: [{ name: envoy, envoyFileAccessLog: { path: /tmp/e.log } }]", "m.yaml");
    assert.ok(own.ok);
    assert.deepEqual(
      own.value.accessLogProviders.map((p) => p.path),
      ["/tmp/e.log"],
      "a provider named envoy replaces the built-in one",
    );
  });
});
