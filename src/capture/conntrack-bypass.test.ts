import assert from "node:assert/strict";
import { test } from "node:test";
import { renderBypassScript } from "./conntrack-bypass.js";

void test("conntrack bypass: captured and bounced TCP (capture or loop mark under the mask) is untracked at raw priority; the script replaces the table atomically", () => {
  const s = renderBypassScript({ marks: { capture: 0x111, ztunnel: 0x539, loop: 0x222, mask: 0xfff } });
  assert.match(s, /^table inet weft_ebpf\ndelete table inet weft_ebpf\ntable inet weft_ebpf \{/);
  assert.match(s, /type filter hook prerouting priority raw; policy accept;/);
  assert.match(s, /meta l4proto tcp meta mark & 0xfff \{ 0x111, 0x222 \} notrack/);
});
