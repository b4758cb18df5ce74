/**
 * End to end, the operator verbs against a live two-node local cluster (ebpf capture), run as
 * a user runs them (`node dist/src/cli/main.js ... --dir STATE`): proxy-status lists both
 * ztunnels SYNCED; ztunnel-config shows workloads, services, policies, certificates and an open
 * connection; authz explain by pod name names the denying policy; analyze reports a broken
 * route and a missing waypoint in the cluster's config with file:line; waypoint apply, list,
 * status and delete edit the cluster's config; the ztunnel's access log has one line per
 * connection with Istio's field names. Root only; about 40 s.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { labelNamespace } from "../../src/local/cluster.js";
import { call, down, enrolled, planFor, podIp, podNetns, sh, startCluster, until } from "./harness.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-op-"));
const cluster = `o${process.pid % 100000}`;
const state = path.join(work, "state");
const MAIN = path.join(__dirname, "..", "..", "src", "cli", "main.js");

after(async () => {
  if (!root) return;
  await down(state, planFor(cluster));
  rmSync(work, { recursive: true, force: true });
});

const weft = (...args: string[]) => sh(process.execPath, [MAIN, ...args, ...(args.includes("--dir") ? [] : ["--dir", state])], 20_000);

test(
  "e2e operator verbs (ebpf): proxy-status, ztunnel-config, authz explain, analyze, waypoint, access log",
  { timeout: 240_000 },
  async (t) => {
    if (!root) {
      console.warn("!! SKIPPED e2e operator verbs: needs root (network namespaces, eBPF)");
      t.skip("needs root: network namespaces, eBPF");
      return;
    }
    const c = await startCluster(work, cluster, "ebpf");
    assert.ok((await labelNamespace(c.dir, "mesh", ["istio.io/dataplane-mode=ambient"])).ok);
    await until(
      "mesh pods enrolled",
      async () => ([...(await enrolled(c))].filter(([k, v]) => k.startsWith("mesh/") && v).length === 3 ? true : undefined),
      30_000,
    );
    const remote = `http://${podIp(c, "mesh", "remote")}:8080/`;
    await until("mesh call served", async () => ((await call(c, "mesh", remote, "warm-up")).ok ? true : undefined), 20_000);

    await t.test("proxy-status: both ztunnels connected, Address and Authorization SYNCED", async () => {
      const r = await until("both ztunnels synced", async () => {
        const x = await weft("proxy-status");
        return x.code === 0 && (x.stdout.match(/ztunnel\s+node-\d\s+SYNCED\s+SYNCED/g) ?? []).length === 2 ? x : undefined;
      });
      assert.match(r.stdout, /^NAME\s+TYPE\s+NODE\s+ADDRESS\s+AUTHZ\s+LDS/m);
      assert.match(r.stdout, /ztunnel-node-0\.istio-system\s+ztunnel\s+node-0\s+SYNCED\s+SYNCED\s+-/);
      const json = JSON.parse((await weft("proxy-status", "-o", "json")).stdout) as Array<{
        name: string;
        types: Record<string, { resources: number }>;
      }>;
      assert.equal(json.length, 2);
      assert.ok(
        json.every((p) => p.types.ADDRESS!.resources >= 8),
        "every workload and service was sent",
      );
    });

    await t.test("ztunnel-config: workloads, services, policies, certificates, an open connection", async () => {
      const w = await weft("ztunnel-config", "workloads", "-n", "mesh");
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stdout, /^NAMESPACE\s+POD NAME\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL$/m);
      assert.match(
        w.stdout,
        new RegExp(`mesh\\s+remote\\s+${podIp(c, "mesh", "remote").replace(/\./g, "\\.")}\\s+node-1\\s+None\\s+HBONE`),
      );
      assert.doesNotMatch(w.stdout, /^plain/m, "-n filters");
      const s = await weft("ztunnel-config", "services", "-A");
      assert.match(s.stdout, /mesh\s+echo\s+198\.19\.207\.10\s+None\s+80:8080/);
      const certs = await weft("ztunnel-config", "certificates", "--node", "node-1");
      assert.match(certs.stdout, /spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/remote\s+available\s+\S+\s+20\d\d-/);
      assert.doesNotMatch(certs.stdout, /sa\/client/, "node-1 holds only its own pods' certificates");
      assert.equal((await weft("ztunnel-config", "certificates", "--node", "node-9")).code, 2);
      // A connection kept open from the client pod, seen on both nodes.
      const holder = spawn(
        "ip",
        [
          "netns",
          "exec",
          podNetns(c, "mesh", "client"),
          process.execPath,
          "-e",
          `const s=require("net").connect(8080,"${podIp(c, "mesh", "remote")}",()=>s.write("x"));setTimeout(()=>s.destroy(),8000)`,
        ],
        { stdio: "ignore" },
      );
      try {
        const conns = await until("connection listed", async () => {
          const r = await weft("ztunnel-config", "connections", "-o", "json");
          const list = JSON.parse(r.stdout) as Array<{
            direction: string;
            from: string;
            dst: string;
            security: string;
            srcWorkload?: string;
          }>;
          return list.some((x) => x.direction === "inbound" && x.from === "node-1") &&
            list.some((x) => x.direction === "outbound" && x.from === "node-0")
            ? list
            : undefined;
        });
        const out = conns.find((x) => x.direction === "outbound")!;
        assert.equal(out.dst, `${podIp(c, "mesh", "remote")}:8080`);
        assert.equal(out.security, "mutual_tls");
        assert.equal(out.srcWorkload, "client");
        const table = await weft("ztunnel-config", "connections");
        assert.match(table.stdout, /^DIRECTION\s+SOURCE\s+DESTINATION\s+SERVICE\s+SECURITY\s+AGE\s+NODE$/m);
      } finally {
        holder.kill();
      }
    });

    await t.test("authz explain by pod name names the denying policy; analyze and policies see it", async () => {
      const file = path.join(c.dir, "config", "test-deny.yaml");
      writeFileSync(
        file,
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-client, namespace: mesh }
spec:
  action: DENY
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/mesh/sa/client"] } }] }]
`,
      );
      try {
        const p = await until("policy on the ztunnels", async () => {
          const r = await weft("ztunnel-config", "policies", "-n", "mesh");
          return /mesh\s+deny-client\s+DENY\s+NAMESPACE/.test(r.stdout) ? r : undefined;
        });
        assert.match(p.stdout, /^NAMESPACE\s+POLICY NAME\s+ACTION\s+SCOPE$/m);
        const e = await weft("authz", "explain", "-n", "mesh", "--from", "client", "--to", "remote:8080");
        assert.equal(e.code, 0, e.stderr);
        assert.match(
          e.stdout,
          /^from mesh\/client \S+ \(spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/client\) to mesh\/remote \S+:8080, decided by the ztunnel on node-1/,
        );
        assert.match(e.stdout, /policy mesh\/deny-client \[DENY, NAMESPACE\]: MATCHED/);
        assert.match(e.stdout, /decision: DENY/);
        const plain = await weft("authz", "explain", "--from", "plain/client", "--to", "mesh/remote:8080");
        assert.match(plain.stdout, /\(plaintext\)[^]*decision: ALLOW/, "a pod outside the mesh presents no identity");
        const bad = await weft("authz", "explain", "--from", "mesh/nobody", "--to", "mesh/remote:8080");
        assert.equal(bad.code, 1);
        assert.equal(bad.stderr, "weft authz explain: --from: no pod mesh/nobody in the mesh's workloads\n");
      } finally {
        unlinkSync(file);
      }
    });

    await t.test("analyze: the cluster's config is clean; a broken route and a missing waypoint are reported with file:line", async () => {
      const clean = await weft("analyze");
      assert.equal(clean.code, 0, clean.stdout + clean.stderr);
      assert.match(clean.stdout, /No validation issues found/);
      const file = path.join(c.dir, "config", "test-broken.yaml");
      writeFileSync(
        file,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: mesh }
spec:
  parentRefs: [{ kind: Service, group: "", name: echo }]
  rules: [{ backendRefs: [{ name: echo-v2, port: 80 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: extra, namespace: mesh, labels: { istio.io/use-waypoint: ghost } }
spec: { clusterIP: 198.19.207.30, selector: { app: echo }, ports: [{ port: 80 }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: typo, namespace: mesh }
spec: { action: DENI }
`,
      );
      try {
        const r = await weft("analyze");
        assert.equal(r.code, 1);
        assert.match(
          r.stdout,
          new RegExp(
            `Error \\[ReferencedResourceNotFound\\] \\(HTTPRoute mesh/r\\) ${file}:1 \\(document 0\\): spec\\.rules\\[0\\]\\.backendRefs\\[0\\]: backend Service mesh/echo-v2 does not exist`,
          ),
        );
        assert.match(r.stdout, new RegExp(`Error \\[UseWaypointNotFound\\] \\(Service mesh/extra\\) ${file}:8 \\(document 1\\)`));
        assert.match(
          r.stdout,
          new RegExp(
            `Error \\[PolicyFailsClosed\\] \\(AuthorizationPolicy mesh/typo\\) ${file}:13 \\(document 2\\): spec\\.action: unknown action "DENI".*fails closed`,
          ),
        );
      } finally {
        unlinkSync(file);
      }
    });

    await t.test("waypoint apply, list, status, delete edit the cluster's config", async () => {
      const a = await weft("waypoint", "apply", "-n", "mesh", "--name", "wp");
      assert.equal(a.code, 0, a.stderr);
      const file = path.join(c.dir, "config", "waypoint-mesh-wp.yaml");
      assert.ok(existsSync(file));
      assert.match(readFileSync(file, "utf8"), /gatewayClassName: istio-waypoint[^]*port: 15008[^]*protocol: HBONE/);
      const l = await weft("waypoint", "list", "-A");
      assert.match(l.stdout, /^NAMESPACE\s+NAME\s+FOR\nmesh\s+wp\s+service\n$/);
      const st = await weft("waypoint", "status", "-n", "mesh");
      assert.match(st.stdout, /mesh\s+wp\s+service\s+NotServed \(no waypoint proxy connected\)/);
      const dup = await weft("waypoint", "delete", "nope", "-n", "mesh");
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /^weft waypoint delete: no waypoint mesh\/nope in the local cluster's config/);
      assert.equal((await weft("waypoint", "delete", "wp", "-n", "mesh")).code, 0);
      assert.ok(!existsSync(file));
      assert.equal((await weft("waypoint", "list", "-A")).stdout, "No resources found.\n");
    });

    await t.test("access log: one 'connection complete' line per connection, Istio's fields, both directions", async () => {
      assert.ok((await call(c, "mesh", remote, "logged")).ok);
      const logs = (n: string) => readFileSync(path.join(c.dir, "logs", `ztunnel-${n}.log`), "utf8");
      const line = await until("inbound access log line", async () =>
        logs("node-1")
          .split("\n")
          .map((l) => (l.includes('"connection complete"') ? (JSON.parse(l) as Record<string, unknown>) : undefined))
          .find((l) => l?.direction === "inbound" && l["dst.workload"] === "remote" && l.bytes_sent !== undefined && !l.error),
      );
      for (const f of [
        "src.addr",
        "src.workload",
        "src.namespace",
        "src.identity",
        "dst.addr",
        "dst.hbone_addr",
        "dst.workload",
        "dst.namespace",
        "dst.identity",
        "bytes_sent",
        "bytes_recv",
        "duration",
      ])
        assert.ok(f in line, `${f} in ${JSON.stringify(line)}`);
      assert.equal(line["src.identity"], "spiffe://cluster.local/ns/mesh/sa/client");
      assert.equal(line.policy, "allow");
      assert.match(String(line.duration), /^\d+ms$/);
      assert.ok(logs("node-0").includes('"direction":"outbound"'));
    });
  },
);
