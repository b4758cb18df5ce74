import assert from "node:assert/strict";
import { test } from "node:test";
import { validateNode } from "./node-config.js";
import { parseSetElements, renderReplaceScript, renderRuleset } from "./nftables-ruleset.js";

const node = (() => {
  const r = validateNode({ instance: "n" });
  if (!r.ok) throw r.error;
  return r.value;
})();

void test("nftables ruleset: ztunnel's packets pass first, then existing transparent sockets, then TPROXY each followed by a drop", () => {
  const lines = renderRuleset(node)
    .split("\n")
    .map((l) => l.trim());
  const pre = lines.slice(lines.indexOf("chain prerouting {"), lines.indexOf("chain output {"));
  const order = [
    "meta mark & 0xfff == 0x539 accept",
    "socket transparent 1 socket wildcard 0 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip saddr @enrolled meta l4proto tcp tproxy ip to :15001 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip saddr @enrolled drop",
    "ip daddr @enrolled tcp dport 15008 tproxy ip to :15008 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip daddr @enrolled tcp dport 15008 drop",
    "ip daddr @enrolled meta l4proto tcp tproxy ip to :15006 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip daddr @enrolled drop",
    "ip6 saddr @enrolled6 meta l4proto tcp tproxy ip6 to :15001 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip6 saddr @enrolled6 drop",
    "ip6 daddr @enrolled6 tcp dport 15008 tproxy ip6 to :15008 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip6 daddr @enrolled6 tcp dport 15008 drop",
    "ip6 daddr @enrolled6 meta l4proto tcp tproxy ip6 to :15006 meta mark set meta mark & 0xfffff000 | 0x111 accept",
    "ip6 daddr @enrolled6 drop",
  ];
  const at = order.map((l) => pre.indexOf(l));
  assert.ok(
    at.every((i) => i >= 0),
    `missing rule: ${order[at.indexOf(-1)]}`,
  );
  assert.deepEqual(
    at,
    [...at].sort((x, y) => x - y),
    "rules in fail-closed order",
  );
  assert.ok(lines.includes("ip daddr @enrolled meta mark set meta mark & 0xfffff000 | 0x111"), "node processes rerouted through lo");
  assert.ok(
    lines.includes("ip6 daddr @enrolled6 meta mark set meta mark & 0xfffff000 | 0x111"),
    "node processes rerouted through lo (IPv6)",
  );
  // Untracked before any NAT (raw priority): kube-proxy's DNAT must not turn a captured Service address into an endpoint.
  const raw = lines.slice(lines.indexOf("chain raw {"), lines.indexOf("chain prerouting {"));
  assert.deepEqual(raw.slice(1, 4), [
    "type filter hook prerouting priority raw; policy accept;",
    "ip saddr @enrolled meta l4proto tcp notrack",
    "ip6 saddr @enrolled6 meta l4proto tcp notrack",
  ]);
});

void test("nftables ruleset: the replace script recreates the inet table with the current members, each in its family's set", () => {
  const s = renderReplaceScript(node, ["198.19.1.2", "fd00:19:1::2", "198.19.1.3"]);
  assert.match(s, /^table inet weft\ndelete table inet weft\ntable inet weft \{/);
  assert.match(s, /set enrolled \{\n\s+type ipv4_addr;\n\s+elements = \{ 198\.19\.1\.2, 198\.19\.1\.3 \}/);
  assert.match(s, /set enrolled6 \{\n\s+type ipv6_addr;\n\s+elements = \{ fd00:19:1::2 \}/);
  assert.doesNotMatch(renderRuleset(node), /elements/);
});

void test("nftables set listing: elements are read from nft's JSON", () => {
  const json = JSON.stringify({ nftables: [{ metainfo: {} }, { set: { name: "enrolled", elem: ["198.19.1.3", "198.19.1.2"] } }] });
  assert.deepEqual(parseSetElements(json), ["198.19.1.2", "198.19.1.3"]);
  assert.deepEqual(parseSetElements(JSON.stringify({ nftables: [{ set: { name: "enrolled" } }] })), []);
});

void test("nftables ruleset: DNS capture redirects both families' port 53 of enrolled pods", () => {
  const dns = validateNode({ instance: "n", dns: { port: 15053 } });
  assert.ok(dns.ok);
  const lines = renderRuleset(dns.ok ? dns.value : node)
    .split("\n")
    .map((l) => l.trim());
  assert.ok(lines.includes("ip saddr @enrolled udp dport 53 redirect to :15053"));
  assert.ok(lines.includes("ip6 saddr @enrolled6 udp dport 53 redirect to :15053"));
  assert.ok(!renderRuleset(node).includes("chain dns"), "no DNS chain without DNS capture");
});
