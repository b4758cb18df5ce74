import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setSysctl, sysctlPath } from "./sysctl.js";

void test("sysctl keys map to /proc/sys paths under the given root", () => {
  const cases: Array<[string, string, string]> = [
    ["/proc/sys", "net.ipv4.tcp_early_demux", "/proc/sys/net/ipv4/tcp_early_demux"],
    ["/host/proc/sys", "net.ipv4.conf.veth1a2b.accept_local", "/host/proc/sys/net/ipv4/conf/veth1a2b/accept_local"],
  ];
  for (const [root, key, want] of cases) assert.equal(sysctlPath(root, key), want, key);
});

void test("with procSysDir a sysctl is the file written under it; a missing key names the file", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "weft-sysctl-"));
  try {
    mkdirSync(path.join(dir, "net/ipv4"), { recursive: true });
    const r = await setSysctl({ procSysDir: dir }, "net.ipv4.tcp_early_demux", 0);
    assert.equal(r.ok, true);
    assert.equal(readFileSync(path.join(dir, "net/ipv4/tcp_early_demux"), "utf8"), "0\n");
    const bad = await setSysctl({ procSysDir: dir }, "net.ipv4.conf.nosuch.accept_local", 1);
    assert.match(
      !bad.ok ? bad.error.message : "",
      /^sysctl net\.ipv4\.conf\.nosuch\.accept_local=1: writing .*nosuch\/accept_local: ENOENT$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
