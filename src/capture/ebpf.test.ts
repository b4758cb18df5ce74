import assert from "node:assert/strict";
import { test } from "node:test";
import { FILTER_PREF, isWeftFilter, parseLinkNames } from "./ebpf.js";

void test("ebpf backend: link names are read from `ip -o link show`, peer suffixes removed", () => {
  const out = [
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
    "2: wcabc123a@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether a2:bf:e6:ac:a0:60",
    "",
  ].join("\n");
  assert.deepEqual(parseLinkNames(out), ["lo", "wcabc123a"]);
});

void test("ebpf backend: only weft's own filter (its preference and program name) is recognised", () => {
  const ours = `filter protocol all pref ${FILTER_PREF} bpf chain 0 handle 0x1 from_pod:[*fsobj] direct-action not_in_hw id 101 name weft_from_pod tag eb56 jited`;
  const othersPref = `filter protocol all pref 1 bpf chain 0 handle 0x1 x.o:[tc] direct-action not_in_hw id 7 name weft_from_pod tag 1 jited`;
  const othersName = `filter protocol all pref ${FILTER_PREF} bpf chain 0 handle 0x1 cil.o direct-action id 8 name cil_from_container tag 1`;
  const cases: Array<[string, boolean]> = [
    [ours, true],
    [ours.replace("from_pod", "to_pod").replace("weft_from_pod", "weft_to_pod"), true],
    [othersPref, false],
    [othersName, false],
    ["", false],
  ];
  for (const [text, want] of cases) assert.equal(isWeftFilter(text), want, text);
});
