import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHostLink } from "./host-link.js";

const link = (extra: Record<string, unknown>): string =>
  JSON.stringify([{ ifindex: 7, ifname: "veth1", address: "3E:35:23:BD:C6:12", ...extra }]);

void test("parseHostLink: routed veth, bridge port, other masters, bad output", () => {
  const cases: Array<[string, string, unknown]> = [
    ["routed veth", link({ linkinfo: { info_kind: "veth" } }), { ok: true, value: { ifindex: 7, mac: "3e:35:23:bd:c6:12" } }],
    [
      "bridge port",
      link({ master: "cni0", linkinfo: { info_kind: "veth", info_slave_kind: "bridge" } }),
      { ok: true, value: { ifindex: 7, mac: "3e:35:23:bd:c6:12", bridge: "cni0" } },
    ],
    [
      "VRF slave stays routed",
      link({ master: "vrf1", linkinfo: { info_slave_kind: "vrf" } }),
      { ok: true, value: { ifindex: 7, mac: "3e:35:23:bd:c6:12" } },
    ],
  ];
  for (const [name, json, want] of cases) assert.deepEqual(parseHostLink("veth1", json), want, name);
  const bad: Array<[string, RegExp]> = [
    ["not json", /link veth1: unreadable/],
    ["[]", /link veth1: ifindex: missing/],
    [JSON.stringify([{ ifindex: 3, address: "00:01" }]), /link veth1: address: "00:01" is not an Ethernet address/],
  ];
  for (const [json, re] of bad) {
    const r = parseHostLink("veth1", json);
    assert.equal(r.ok, false, json);
    assert.match(String(!r.ok && r.error.message), re);
  }
});
