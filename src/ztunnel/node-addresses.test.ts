import { test } from "node:test";
import assert from "node:assert/strict";
import type os from "node:os";
import { nodeAddresses } from "./node-addresses.js";

void test("node addresses: every interface's address is the node's; the list is re-read after the refresh interval", async () => {
  let reads = 0;
  let list: ReturnType<typeof os.networkInterfaces> = {
    lo: [{ address: "127.0.0.1" } as os.NetworkInterfaceInfo],
    eth0: [{ address: "10.250.0.11" } as os.NetworkInterfaceInfo],
  };
  const isNode = nodeAddresses(20, () => (reads++, list));
  assert.equal(isNode("10.250.0.11"), true);
  assert.equal(isNode("10.251.1.1"), false);
  list = { ...list, veth1: [{ address: "10.251.1.1" } as os.NetworkInterfaceInfo] };
  assert.equal(isNode("10.251.1.1"), false, "cached within the interval");
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(isNode("10.251.1.1"), true, "a new pod veth's address after the interval");
  assert.equal(reads, 2);
});
