/**
 * `npm run demo` end to end: runs scripts/demo.sh non-interactively (DEMO_NONINTERACTIVE=1,
 * already built) with test names (namespaces `wefttest-loc-demo-*`, pins under
 * /sys/fs/bpf/wefttest-loc-demo). The script checks its own claims (payload in clear before,
 * none after enrollment, only HBONE on the underlay, no pod restart, mutual_tls in metrics) and
 * exits non-zero when one fails, and the waypoint part (90/10 canary within 4 standard
 * deviations, header route, VirtualService form); this test also checks that its trap left
 * nothing behind. Root only; about 60 s.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const root = process.getuid?.() === 0;

/** Whether this build has the waypoint proxy (the demo's L7 part needs it). */
const hasWaypoint = (): boolean => existsSync(path.join(__dirname, "..", "..", "src", "cli", "waypoint.js"));

test("demo: scripts/demo.sh runs its steps, proves its claims and tears down", { timeout: 240_000 }, async (t) => {
  if (!root) {
    console.warn("!! SKIPPED demo e2e: needs root (network namespaces, eBPF, nftables)");
    t.skip("needs root: network namespaces, eBPF, nftables");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "weft-demo-"));
  const repo = path.join(__dirname, "..", "..", "..");
  const env = {
    ...process.env,
    DEMO_NONINTERACTIVE: "1",
    WEFT_DEMO_SKIP_BUILD: "1",
    WEFT_DEMO_DIR: path.join(dir, "state"),
    WEFT_DEMO_PREFIX: "wefttest-loc-",
    WEFT_DEMO_CLUSTER: "demo",
    WEFT_DEMO_PIN_ROOT: "/sys/fs/bpf/wefttest-loc-demo",
    WEFT_DEMO_DASHBOARD: "127.0.0.1:20091",
  };
  let out = "";
  const code = await new Promise<number | null>((resolve) => {
    const c = spawn("bash", [path.join(repo, "scripts", "demo.sh")], { env, cwd: repo });
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (out += d.toString()));
    c.on("exit", resolve);
  });
  try {
    assert.equal(code, 0, out.slice(-3000));
    assert.match(out, /payload marker 'weft-demo-payload' seen [1-9]\d* times in clear/);
    assert.match(out, /payload marker seen 0 times/);
    assert.match(out, /connection_security_policy="mutual_tls"/);
    assert.match(out, /spiffe:\/\/cluster\.local\/ns\/demo\/sa\/frontend available/);
    assert.match(out, /open http:\/\/127\.0\.0\.1:20091\/ : workloads, services/);
    assert.match(out, /waiting for the policy to reach the ztunnels \(up to 10 s\) \.* ?ok/);
    assert.match(out, /decision: DENY[^]*deny-client|deny-client[^]*decision: DENY/, "authz explain names the denying policy");
    assert.equal((out.match(/decision: DENY: denied by DENY policy demo\/deny-client rule 0/g) ?? []).length, 1, "one decision line");
    assert.match(out, /waiting for the call to be allowed again \(up to 10 s\) \.* ?ok/);
    assert.match(out, /removed the demo's CA key, tokens and packet captures/);
    if (hasWaypoint()) {
      assert.match(
        out,
        /waypoint bookinfo\/waypoint: pod waypoint-\w{5} on node-\d \S+ ready \(spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/waypoint\)/,
      );
      assert.match(out, /canary split 90\/10 within 4 standard deviations/);
      assert.match(out, /50 requests with 'end-user: jason': reviews-v2=50\n/);
    } else {
      console.warn("!! demo e2e: the L7 (waypoint) part was SKIPPED: this build has no `weft waypoint`");
      assert.match(out, /L7 part SKIPPED/);
    }
    const left = existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith("wefttest-loc-demo-")) : [];
    assert.deepEqual(left, [], "the demo's trap removed its namespaces");
    assert.equal(existsSync("/sys/fs/bpf/wefttest-loc-demo"), false, "and its pins");
    for (const secret of ["ca", "tokens.yaml", "plain.pcap", "mesh.pcap"])
      assert.equal(existsSync(path.join(dir, "state", secret)), false, `the demo removed ${secret} from its state`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
