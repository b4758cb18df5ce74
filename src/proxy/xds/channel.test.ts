import { test } from "node:test";
import assert from "node:assert/strict";
import { channelOptions, serverNameFor } from "./channel.js";

const target = (address: string, expectedSan: string, insecure = false) => ({
  address,
  rootsPem: [],
  expectedSan,
  token: () => "t",
  ...(insecure ? { insecure } : {}),
});
const ISTIOD = "spiffe://cluster.local/ns/istio-system/sa/istiod";

test("serverNameFor: an IP address gets a DNS server name (never the IP, RFC 6066); a DNS address keeps grpc-js's own", () => {
  const cases: Array<[string, string, boolean, string | undefined]> = [
    ["198.18.0.1:15012", ISTIOD, false, "istiod.istio-system.svc"],
    ["[fd00::1]:15012", ISTIOD, false, "istiod.istio-system.svc"],
    ["127.0.0.1:15012", "istiod.istio-system.svc", false, "istiod.istio-system.svc"],
    ["127.0.0.1:15012", "spiffe://cluster.local/something-else", false, undefined],
    ["istiod.istio-system.svc:15012", ISTIOD, false, undefined],
    ["127.0.0.1:15012", ISTIOD, true, undefined],
  ];
  for (const [address, san, insecure, want] of cases)
    assert.equal(serverNameFor(target(address, san, insecure)), want, `${address} ${san}${insecure ? " insecure" : ""}`);
});

test("channelOptions: the override only when a server name is chosen, the shared options always", () => {
  const ip = channelOptions(target("198.18.0.1:15012", ISTIOD));
  assert.equal(ip["grpc.ssl_target_name_override"], "istiod.istio-system.svc");
  assert.equal(ip["grpc.keepalive_time_ms"], 30_000);
  const dns = channelOptions(target("istiod.istio-system.svc:15012", ISTIOD));
  assert.equal("grpc.ssl_target_name_override" in dns, false);
  assert.equal(dns["grpc.max_receive_message_length"], 256 * 1024 * 1024);
});
