import assert from "node:assert/strict";
import { test } from "node:test";
import { validateNode } from "./node-config.js";
import { parseSetElements, renderReplaceScript, renderRuleset } from "./nftables-ruleset.js";

const node = (() => {
  const r = validateNode({ instance: "n" });
  if (!r.ok) throw r.error;
  return r.value;
})();

/** The rules of one chain, in order (trimmed lines between `chain NAME {` and its `}`). */
function chain(lines: string[], name: string): string[] {
  const from = lines.indexOf(`chain ${name} {`);
  assert.ok(from >= 0, `chain ${name} missing`);
  return lines.slice(from + 1, lines.indexOf("}", from));
}

function assertInOrder(rules: string[], order: string[], what: string): void {
  const at = order.map((l) => rules.indexOf(l));
  assert.ok(
    at.every((i) => i >= 0),
    `${what}: missing rule: ${order[at.indexOf(-1)]}`,
  );
  assert.deepEqual(
    at,
    [...at].sort((x, y) => x - y),
    `${what}: rules in fail-closed order`,
  );
}

void test("nftables ruleset: ztunnel's packets pass first, then existing transparent sockets, then TPROXY each followed by a drop", () => {
  const lines = renderRuleset(node)
    .split("\n")
    .map((l) => l.trim());
  const mark = "meta mark set meta mark & 0xfffff000 | 0x111";
  // Outbound before any DNAT (the Service address the pod used), inbound after it (the endpoint).
  const pre = chain(lines, "prerouting");
  assert.equal(pre[0], "type filter hook prerouting priority mangle; policy accept;");
  assertInOrder(
    pre,
    [
      "meta mark & 0xfff == 0x539 accept",
      `socket transparent 1 socket wildcard 0 ${mark} accept`,
      `ip saddr @enrolled meta l4proto tcp tproxy ip to :15001 ${mark} accept`,
      "ip saddr @enrolled drop",
      `ip6 saddr @enrolled6 meta l4proto tcp tproxy ip6 to :15001 ${mark} accept`,
      "ip6 saddr @enrolled6 drop",
    ],
    "prerouting",
  );
  assert.ok(!pre.some((l) => l.includes("daddr")), "no inbound rule before the DNAT");
  const inbound = chain(lines, "inbound");
  assert.equal(inbound[0], "type filter hook prerouting priority dstnat + 10; policy accept;", "after kube-proxy's DNAT");
  assertInOrder(
    inbound,
    [
      "meta mark & 0xfff == 0x539 accept",
      `socket transparent 1 socket wildcard 0 ${mark} accept`,
      "ip saddr @enrolled accept",
      "ip6 saddr @enrolled6 accept",
      `ip daddr @enrolled tcp dport 15008 tproxy ip to :15008 ${mark} accept`,
      "ip daddr @enrolled tcp dport 15008 drop",
      `ip daddr @enrolled meta l4proto tcp tproxy ip to :15006 ${mark} accept`,
      "ip daddr @enrolled drop",
      `ip6 daddr @enrolled6 tcp dport 15008 tproxy ip6 to :15008 ${mark} accept`,
      "ip6 daddr @enrolled6 tcp dport 15008 drop",
      `ip6 daddr @enrolled6 meta l4proto tcp tproxy ip6 to :15006 ${mark} accept`,
      "ip6 daddr @enrolled6 drop",
    ],
    "inbound",
  );
  assert.ok(!inbound.some((l) => l.includes("== 0x111")), "not skipped by the capture mark: node processes' rerouted packets carry it");
  assert.equal(chain(lines, "output")[0], "type route hook output priority -90; policy accept;", "after the output DNAT (-100)");
  assert.ok(lines.includes("ip daddr @enrolled meta mark set meta mark & 0xfffff000 | 0x111"), "node processes rerouted through lo");
  assert.ok(
    lines.includes("ip6 daddr @enrolled6 meta mark set meta mark & 0xfffff000 | 0x111"),
    "node processes rerouted through lo (IPv6)",
  );
  // Untracked before any NAT (raw priority): kube-proxy's DNAT must not turn a captured Service address into an endpoint.
  assert.deepEqual(chain(lines, "raw"), [
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
