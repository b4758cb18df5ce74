import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CONFIG_VALUE_SIZE,
  decodeConfig,
  encodeConfig,
  enrolledKey,
  enrolledValue,
  ip6Key,
  ipFromKey,
  ipKey,
  portKey,
  portValue,
} from "./ebpf-maps.js";
import { validateNode } from "./node-config.js";

void test("weft_config: encodes struct weft_config byte for byte and decodes back", () => {
  const node = validateNode({
    instance: "n",
    ports: { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 },
    marks: { capture: 0x111, ztunnel: 0x539, loop: 0x222, mask: 0xfff },
  });
  assert.equal(node.ok, true);
  if (!node.ok) return;
  const b = encodeConfig(node.value);
  assert.equal(b.length, CONFIG_VALUE_SIZE);
  assert.equal(
    b.toString("hex"),
    "11010000" + "39050000" + "22020000" + "ff0f0000" + "993a" + "9e3a" + "a03a" + "0100" + "0000" + "0000" + "00000000" + "00".repeat(16),
  );
  assert.deepEqual(decodeConfig(b), { marks: node.value.marks, ports: node.value.ports, ready: true });
});

void test("weft_config with DNS capture: flag WEFT_CFG_DNS and port_dns", () => {
  const node = validateNode({ instance: "n", dns: { port: 15053, address: "198.19.0.11" } });
  assert.ok(node.ok);
  if (!node.ok) return;
  const b = encodeConfig(node.value);
  assert.equal(b.subarray(22).toString("hex"), "0300" + "cd3a" + "0000" + "c613000b" + "00".repeat(16));
  assert.equal(decodeConfig(b).dnsPort, 15053);
  assert.equal(decodeConfig(b).dnsAddress, "198.19.0.11");
  assert.equal(decodeConfig(b).dnsAddress6, undefined, "no IPv6 DNS address: IPv6 queries are not redirected");
  const dual = validateNode({ instance: "n", dns: { port: 15053, address: "198.19.0.11", address6: "FD00:19:0::B" } });
  assert.ok(dual.ok);
  if (!dual.ok) return;
  const b6 = encodeConfig(dual.value);
  assert.equal(b6.subarray(32).toString("hex"), "fd00001900000000000000000000000b", "dns_addr6 in network order");
  assert.equal(decodeConfig(b6).dnsAddress6, "fd00:19::b");
  const bad6 = validateNode({ instance: "n", dns: { port: 15053, address6: "198.19.0.11" } });
  assert.ok(!bad6.ok && /dns\.address6: "198\.19\.0\.11" is not an IPv6 address/.test(bad6.error.message));
  const bad = validateNode({ instance: "n", dns: { port: 15001 } });
  assert.ok(!bad.ok && /dns\.port: 15001 is one of the TCP capture ports/.test(bad.error.message));
});

void test("weft_enrolled: keys are IPv4 in network order, values little-endian flags", () => {
  assert.deepEqual([...ipKey("198.19.1.2")], [198, 19, 1, 2]);
  assert.equal(ipFromKey(ipKey("10.0.0.255")), "10.0.0.255");
  assert.deepEqual([...enrolledValue()], [1, 0, 0, 0]);
  assert.throws(() => ipKey("fd00::1"), /not an IPv4 address/);
});

void test("weft_enrolled6: IPv6 keys are the 16 address bytes in network order; each family has its map", () => {
  assert.equal(ip6Key("fd00:19:1::2").toString("hex"), "fd000019000100000000000000000002");
  assert.equal(ipFromKey(ip6Key("fd00:19:1::2")), "fd00:19:1::2");
  assert.equal(ipFromKey(Buffer.from("fd000000000000000000000000000001", "hex")), "fd00::1");
  assert.throws(() => ip6Key("198.19.1.2"), /weft_enrolled6 key: "198.19.1.2" is not an IPv6 address/);
  assert.equal(enrolledKey("198.19.1.2").map, "weft_enrolled");
  assert.deepEqual([...enrolledKey("198.19.1.2").key], [198, 19, 1, 2]);
  assert.equal(enrolledKey("fd00::2").map, "weft_enrolled6");
  assert.equal(enrolledKey("fd00::2").key.length, 16);
});

void test("weft_ports: key is the ifindex in host order, value struct weft_port (MAC, then WEFT_PORT_BRIDGED)", () => {
  assert.equal(portKey(0x1234).toString("hex"), "34120000");
  assert.equal(portValue("3e:35:23:bd:c6:12").toString("hex"), "3e3523bdc612" + "0100");
});
