import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { analyzePaths } from "./analyze.js";
import { formatFinding } from "./analyze-mesh.js";

const settings = { rootNamespace: "istio-system", trustDomain: "cluster.local", clusterDomain: "cluster.local", authzL4Mode: "istio" };

test("analyzePaths: the control plane's validation, its policy translation and mesh findings, each with file:line", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-analyze-"));
  try {
    writeFileSync(
      path.join(dir, "a.yaml"),
      `apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec: { ports: [{ port: 80 }], portz: 1 }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: typo, namespace: demo }
spec: { action: DENI }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: http, namespace: demo }
spec: { action: ALLOW, rules: [{ to: [{ operation: { methods: [GET] } }] }] }
`,
    );
    writeFileSync(
      path.join(dir, "b.yml"),
      "apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: demo }\nspec: { ports: [{ port: 80 }] }\n",
    );
    writeFileSync(
      path.join(dir, "c.yaml"),
      "apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: demo }\nspec: { ports: [{ port: 81 }] }\n",
    );
    writeFileSync(path.join(dir, "notes.txt"), "not config");
    const lines = (await analyzePaths([dir], settings)).map(formatFinding);
    const at = (f: string, line: number, doc: number) =>
      `${path.join(dir, f)}:${line} (document ${doc})`.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assert.equal(lines.length, 4, lines.join("\n"));
    assert.match(
      lines.find((l) => l.includes("Service demo/web"))!,
      new RegExp(`^Error \\[SchemaValidationError\\] \\(Service demo/web\\) ${at("a.yaml", 1, 0)}: spec.portz: unknown field`),
    );
    assert.match(
      lines.find((l) => l.includes("mesh/typo") || l.includes("demo/typo"))!,
      /^Error \[PolicyFailsClosed\] .*spec\.action: unknown action "DENI".*fails closed \(connections to every workload in namespace demo are denied\)/,
    );
    assert.match(
      lines.find((l) => l.includes("demo/http"))!,
      new RegExp(`^Warning \\[PolicyWarning\\] \\(AuthorizationPolicy demo/http\\) ${at("a.yaml", 11, 2)}: -: .*HTTP attributes`),
    );
    assert.match(
      lines.find((l) => l.includes("c.yaml"))!,
      /metadata\.name: conflicting definition: also defined at .*b\.yml:1/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
