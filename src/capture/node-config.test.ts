import assert from "node:assert/strict";
import { test } from "node:test";
import { type NodeCaptureInput, nodeCaptureDefaults, validateNode, validatePod } from "./node-config.js";

void test("node capture config: defaults are Istio's ports and marks", () => {
  const r = validateNode({ instance: "node-1" });
  assert.equal(r.ok, true);
  if (!r.ok) return;
  assert.deepEqual(r.value.ports, { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 });
  assert.deepEqual(r.value.marks, nodeCaptureDefaults.marks);
  assert.equal(r.value.pinRoot, "/sys/fs/bpf/weft");
  assert.equal(Object.isFrozen(r.value), true);
  assert.equal(r.value.procSysDir, undefined, "sysctls through the sysctl tool by default");
  const k = validateNode({ instance: "node-1", procSysDir: "/host/proc/sys/" });
  assert.equal(k.ok && k.value.procSysDir, "/host/proc/sys");
});

void test("node capture config: bad fields are rejected with the field named", () => {
  const cases: Array<[NodeCaptureInput, RegExp]> = [
    [{ instance: "" }, /instance/],
    [{ instance: "a/b" }, /instance/],
    [{ instance: "n", ports: { outbound: 0 } }, /ports\.outbound: 0/],
    [{ instance: "n", ports: { hbone: 15001 } }, /ports: .* must differ/],
    [{ instance: "n", marks: { capture: 0x539 } }, /marks: capture, ztunnel and loop must differ/],
    [{ instance: "n", marks: { capture: 0x1000 } }, /marks\.capture: 0x1000 must be non-zero and inside mask 0xfff/],
    [{ instance: "n", marks: { loop: 0 } }, /marks\.loop/],
    [{ instance: "n", routeTable: 254 }, /routeTable/],
    [{ instance: "n", rulePriority: 32766 }, /rulePriority/],
    [{ instance: "n", pinRoot: "/tmp/x" }, /pinRoot/],
    [{ instance: "n", pinRoot: "/sys/fs/bpf/../x" }, /pinRoot/],
    [{ instance: "n", netns: "" }, /netns/],
    [{ instance: "n", procSysDir: "host/proc/sys" }, /procSysDir: "host\/proc\/sys" must be an absolute path/],
    [{ instance: "n", procSysDir: "/" }, /procSysDir/],
    [{ instance: "n", procSysDir: "/host/../proc/sys" }, /procSysDir/],
    [{ instance: "n", procSysDir: "/host/proc/sys", netns: "node-1" }, /procSysDir: only for an agent in the node's own network namespace/],
  ];
  for (const [input, want] of cases) {
    const r = validateNode(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    assert.match(!r.ok ? r.error.message : "", /^capture config: /);
    assert.match(!r.ok ? r.error.message : "", want);
  }
});

void test("pods: IPv4 and IPv6 addresses (canonical) and an interface name are required", () => {
  const cases: Array<[Parameters<typeof validatePod>[0], RegExp | undefined]> = [
    [{ name: "ns/p", ips: ["198.19.1.2"], hostVeth: "veth1" }, undefined],
    [{ name: "ns/p", ips: ["198.19.1.2", "198.19.1.3"], hostVeth: "veth1" }, undefined],
    [{ name: "ns/p", ips: ["fd00::2"], hostVeth: "veth1" }, undefined],
    [{ name: "ns/p", ips: ["198.19.1.2", "fd00::2"], hostVeth: "veth1" }, undefined],
    [{ name: "ns/p", ips: [], hostVeth: "veth1" }, /pod ns\/p: ips: at least one/],
    [{ name: "ns/p", ips: ["300.1.1.1"], hostVeth: "veth1" }, /"300.1.1.1" is not an IPv4 or IPv6 address/],
    [{ name: "ns/p", ips: ["fd00::1%eth0"], hostVeth: "veth1" }, /is not an IPv4 or IPv6 address/],
    [{ name: "ns/p", ips: ["198.19.1.2"], hostVeth: "a-name-longer-than-15" }, /hostVeth/],
    [{ ips: ["198.19.1.2"], hostVeth: "bad name" }, /pod bad name: hostVeth/],
  ];
  for (const [pod, want] of cases) {
    const r = validatePod(pod);
    if (want) assert.match(!r.ok ? r.error.message : "(accepted)", want);
    else assert.equal(r.ok, true, JSON.stringify(pod));
  }
});

void test("pods: IPv6 addresses are handed to the backends in RFC 5952 form", () => {
  const r = validatePod({ name: "ns/p", ips: ["198.19.1.2", "FD00:0:0::0002"], hostVeth: "veth1" });
  assert.ok(r.ok);
  assert.deepEqual(r.ok ? r.value.ips : [], ["198.19.1.2", "fd00::2"]);
});
