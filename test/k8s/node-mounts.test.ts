import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { nodeMountScript } from "./node-mounts.js";

const host = new Set(["/", "/var", "/var/lib", "/var/log", "/etc", "/etc/cni", "/etc/cni/net.d", "/opt", "/run"]);
const exists = (p: string): boolean => host.has(p);
const plan = {
  privatePaths: [
    { target: "/var/lib/kubelet", backing: "/s/kubelet" },
    { target: "/var/lib/cni", backing: "/s/cni" },
    { target: "/var/log", backing: "/s/log" },
    { target: "/opt/cni", backing: "/s/opt-cni" },
    { target: "/etc/cni/net.d", backing: "/s/net.d" },
  ],
  sysctls: [{ key: "kernel/panic", file: "/s/sysctl/panic" }],
  stageDir: "/r/stage",
  fresh: [
    { fstype: "tmpfs" as const, target: "/run" },
    { fstype: "bpf" as const, target: "/sys/fs/bpf" },
  ],
};

test("existing targets are bound directly; missing ones graft their parent once, without the host entries they replace", () => {
  const script = nodeMountScript(plan, exists);
  assert.match(script, /^set -eu\nmount --bind '\/s\/sysctl\/panic' '\/proc\/sys\/kernel\/panic'\n/);
  assert.equal((script.match(/mount --move '\/r\/stage' '\/var\/lib'/g) ?? []).length, 1);
  assert.match(script, /\[ "\$n" = 'kubelet' \] && continue; \[ "\$n" = 'cni' \] && continue/);
  assert.match(script, /mkdir '\/r\/stage\/kubelet'; mount --bind '\/s\/kubelet' '\/r\/stage\/kubelet'/);
  assert.match(script, /mount --move '\/r\/stage' '\/opt'/);
  assert.match(script, /mount --bind '\/s\/log' '\/var\/log'\n/);
  assert.match(
    script,
    /mount --bind '\/s\/net.d' '\/etc\/cni\/net.d'\nmount -t tmpfs -o mode=0755 wtb-tmpfs '\/run'\nmount -t bpf wtb-bpf '\/sys\/fs\/bpf'\nmount --make-rshared \/\n$/,
  );
  assert.doesNotMatch(script, /mount --move '\/r\/stage' '\/etc/);
});

test("the script is valid sh", () => {
  const r = spawnSync("sh", ["-n"], { input: nodeMountScript(plan, exists), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("a target two levels below the nearest existing directory is refused, naming it", () => {
  assert.throws(
    () => nodeMountScript({ ...plan, privatePaths: [{ target: "/opt/cni/bin", backing: "/s/bin" }] }, exists),
    /node mount \/opt\/cni\/bin: \/opt\/cni does not exist on the host either; back \/opt\/cni instead/,
  );
});
