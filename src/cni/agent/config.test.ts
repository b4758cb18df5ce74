/** The node agent's Kubernetes node flags: plugin chaining dirs, health address, its DaemonSet. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadAgentConfig, parseDnsAddresses } from "./config.js";

const base = ["--node", "n1", "--kubeconfig", "in-cluster"];

void test("chaining, health and DaemonSet flags: absent by default, parsed, bad values named", () => {
  const d = loadAgentConfig(base, {});
  assert.ok(d.ok && d.value.chain === undefined && d.value.health === undefined && d.value.daemonSet === undefined);
  const f = loadAgentConfig(
    [...base, "--cni-conf-dir", "/etc/cni/net.d", "--health", "127.0.0.1:15022", "--daemonset", "istio-system/weft-cni"],
    {},
  );
  assert.ok(f.ok);
  assert.deepEqual(f.value.chain, { confDir: "/etc/cni/net.d", binDir: "/opt/cni/bin", hostDir: "/opt/weft/cni" });
  assert.deepEqual(f.value.health, { host: "127.0.0.1", port: 15022 });
  assert.deepEqual(f.value.daemonSet, { namespace: "istio-system", name: "weft-cni" });
  const e = loadAgentConfig(base, { WEFT_CNI_CONF_DIR: "/c", WEFT_CNI_BIN_DIR: "/b", WEFT_HOST_RUNTIME_DIR: "/h" });
  assert.ok(e.ok && e.value.chain?.binDir === "/b" && e.value.chain.hostDir === "/h");
  const bad: [string[], RegExp][] = [
    [["--cni-conf-dir", "net.d"], /--cni-conf-dir: net\.d must be an absolute path/],
    [["--health", "15022"], /--health: "15022" is not HOST:PORT/],
    [["--daemonset", "weft-cni"], /--daemonset: "weft-cni" is not NAMESPACE\/NAME/],
  ];
  for (const [args, re] of bad) {
    const r = loadAgentConfig([...base, ...args], {});
    assert.ok(!r.ok, args.join(" "));
    if (!r.ok) assert.match(r.error.message, re);
  }
  const noKube = loadAgentConfig(["--node", "n1", "--config-dir", "/x", "--daemonset", "a/b"], {});
  assert.ok(!noKube.ok && /--daemonset needs --kubeconfig/.test(noKube.error.message));
});

void test("--dns-capture-address: an IPv4 and optionally an IPv6 address, one per family, either order", () => {
  const cases: Array<[string | undefined, object | RegExp]> = [
    [undefined, {}],
    ["198.19.0.11", { dnsAddress: "198.19.0.11" }],
    ["198.19.0.11,fd00:19::b", { dnsAddress: "198.19.0.11", dnsAddress6: "fd00:19::b" }],
    ["fd00:19::b, 198.19.0.11", { dnsAddress: "198.19.0.11", dnsAddress6: "fd00:19::b" }],
    ["fd00:19::b", { dnsAddress6: "fd00:19::b" }],
    ["198.19.0.11,198.19.0.12", /two IPv4 addresses/],
    ["fd00::1,fd00::2", /two IPv6 addresses/],
    ["198.19.0.11,node", /--dns-capture-address: "node" is not an IP address/],
  ];
  for (const [text, want] of cases) {
    const r = parseDnsAddresses(text);
    if (want instanceof RegExp) assert.match(!r.ok ? r.error.message : "(accepted)", want, String(text));
    else assert.deepEqual(r.ok ? r.value : r.error.message, want, String(text));
  }
});
