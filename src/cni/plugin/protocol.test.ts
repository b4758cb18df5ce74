import { test } from "node:test";
import assert from "node:assert/strict";
import { CniCode, hostInterface, mayStartWithoutAgent, parseEnv, parseNetConf, podEvent } from "./protocol.js";

const env = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/run/netns/p",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web",
  CNI_PATH: "/opt/cni/bin",
};
const prevResult = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "veth1234" }, { name: "eth0", sandbox: "/run/netns/p" }],
  ips: [{ address: "198.19.200.5/24", interface: 1, gateway: "198.19.200.1" }],
};
const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: "1.0.0", name: "net", type: "weft-cni", agentSocket: "/run/weft/n/cni.sock", prevResult, ...extra });

test("parseEnv: reads the CNI variables and splits CNI_ARGS", () => {
  const r = parseEnv(env);
  assert.ok(r.ok);
  assert.equal(r.value.command, "ADD");
  assert.deepEqual(r.value.args, { IgnoreUnknown: "1", K8S_POD_NAMESPACE: "demo", K8S_POD_NAME: "web" });
});

test("parseEnv: rejects bad input with the variable named", () => {
  const cases: [Record<string, string>, number, RegExp][] = [
    [{ ...env, CNI_COMMAND: "GC2" }, CniCode.invalidEnv, /CNI_COMMAND/],
    [{ ...env, CNI_CONTAINERID: "" }, CniCode.invalidEnv, /CNI_CONTAINERID/],
    [{ ...env, CNI_IFNAME: "" }, CniCode.invalidEnv, /CNI_IFNAME/],
    [{ ...env, CNI_NETNS: "" }, CniCode.invalidEnv, /CNI_NETNS/],
    [{ ...env, CNI_ARGS: "novalue" }, CniCode.invalidEnv, /CNI_ARGS/],
  ];
  for (const [e, code, msg] of cases) {
    const r = parseEnv(e);
    assert.ok(!r.ok);
    assert.equal(r.error.code, code);
    assert.match(r.error.message, msg);
  }
});

test("parseEnv: DEL tolerates a missing netns and VERSION needs nothing else", () => {
  assert.ok(parseEnv({ ...env, CNI_COMMAND: "DEL", CNI_NETNS: "" }).ok);
  assert.ok(parseEnv({ CNI_COMMAND: "VERSION" }).ok);
});

test("parseNetConf: validates versions, weft's keys and the need for prevResult", () => {
  const cases: [string, "ADD" | "DEL" | "CHECK", number | undefined, RegExp | undefined][] = [
    [conf(), "ADD", undefined, undefined],
    ["{", "ADD", CniCode.decodeFailure, /not JSON/],
    [conf({ cniVersion: "0.2.0" }), "ADD", CniCode.incompatibleVersion, /cniVersion/],
    [conf({ agentSocket: "relative.sock" }), "ADD", CniCode.invalidConfig, /agentSocket/],
    [conf({ excludeNamespaces: "kube-system" }), "ADD", CniCode.invalidConfig, /excludeNamespaces/],
    [conf({ agentTimeoutMs: 0 }), "ADD", CniCode.invalidConfig, /agentTimeoutMs/],
    [conf({ prevResult: undefined }), "ADD", CniCode.invalidConfig, /prevResult: required for ADD/],
    [conf({ prevResult: undefined }), "DEL", undefined, undefined],
    [conf({ prevResult: undefined }), "CHECK", CniCode.invalidConfig, /prevResult/],
  ];
  for (const [text, cmd, code, msg] of cases) {
    const r = parseNetConf(text, cmd);
    if (code === undefined) assert.ok(r.ok, text);
    else {
      assert.ok(!r.ok, text);
      assert.equal(r.error.code, code);
      assert.match(r.error.message, msg!);
    }
  }
});

test("podEvent: takes the IPs and the host-side interface (no sandbox) from prevResult", () => {
  const inv = parseEnv(env);
  const c = parseNetConf(conf(), "ADD");
  assert.ok(inv.ok && c.ok);
  const ev = podEvent(inv.value, c.value);
  assert.ok(ev.ok);
  assert.deepEqual(ev.value, {
    command: "ADD",
    containerId: "c1",
    netns: "/run/netns/p",
    ifname: "eth0",
    namespace: "demo",
    name: "web",
    ips: ["198.19.200.5"],
    hostInterface: "veth1234",
  });
});

test("the host-side interface: the veth before the pod's interface, never the bridge", () => {
  const pod = { name: "eth0", sandbox: "/run/netns/p" };
  const cases: Array<[string, unknown, string | undefined]> = [
    ["ptp", { interfaces: [{ name: "veth1" }, pod], ips: [{ address: "10.0.0.2/24", interface: 1 }] }, "veth1"],
    ["bridge", { interfaces: [{ name: "cni0" }, { name: "veth2" }, pod], ips: [{ address: "10.0.0.2/24", interface: 2 }] }, "veth2"],
    ["bridge, no interface index", { interfaces: [{ name: "cni0" }, { name: "veth3" }, pod], ips: [{ address: "10.0.0.2/24" }] }, "veth3"],
    ["no sandbox interface listed", { interfaces: [{ name: "cni0" }, { name: "veth4" }], ips: [{ address: "10.0.0.2/24" }] }, "veth4"],
    ["only the pod's interface (no host side)", { interfaces: [pod], ips: [{ address: "10.0.0.2/24", interface: 0 }] }, undefined],
    ["no interfaces", { ips: [{ address: "10.0.0.2/24" }] }, undefined],
  ];
  for (const [name, prev, want] of cases) assert.equal(hostInterface(prev as never)?.name, want, name);
});

test("podEvent: an ADD without addresses or with a malformed one is refused", () => {
  const inv = parseEnv(env);
  assert.ok(inv.ok);
  for (const ips of [[], [{ address: "nope/24" }]]) {
    const c = parseNetConf(conf({ prevResult: { ...prevResult, ips } }), "ADD");
    assert.ok(c.ok);
    const ev = podEvent(inv.value, c.value);
    assert.ok(!ev.ok);
    assert.match(ev.error.message, /prevResult\.ips/);
  }
});

test("mayStartWithoutAgent: only pods of excluded namespaces (default kube-system, istio-system)", () => {
  const c = parseNetConf(conf(), "ADD");
  assert.ok(c.ok);
  const base = { command: "ADD" as const, containerId: "c", netns: "", ifname: "eth0", name: "x", ips: [] };
  assert.equal(mayStartWithoutAgent({ ...base, namespace: "kube-system" }, c.value), true);
  assert.equal(mayStartWithoutAgent({ ...base, namespace: "demo" }, c.value), false);
  assert.equal(mayStartWithoutAgent({ ...base, namespace: "" }, c.value), false);
});
