import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { transparentSource } from "./dialer.js";

describe("transparentSource: the source of a transparent upstream connection", () => {
  const cases: { name: string; source: string | undefined; target: string; spoof: boolean; want: string }[] = [
    { name: "the client's IPv4 is kept", source: "10.0.0.5", target: "10.0.1.7", spoof: true, want: "10.0.0.5" },
    { name: "the client's IPv6 is kept", source: "fd00::5", target: "fd00::7", spoof: true, want: "fd00::5" },
    { name: "no spoofing: the kernel picks", source: "10.0.0.5", target: "10.0.1.7", spoof: false, want: "0.0.0.0" },
    { name: "no client: the kernel picks", source: undefined, target: "fd00::7", spoof: true, want: "::" },
    { name: "IPv4 client, IPv6 destination", source: "10.0.0.5", target: "fd00::7", spoof: true, want: "::" },
    { name: "IPv6 client, IPv4 destination", source: "fd00::5", target: "10.0.1.7", spoof: true, want: "0.0.0.0" },
    { name: "hairpin IPv4: the client is the destination", source: "10.0.0.5", target: "10.0.0.5", spoof: true, want: "0.0.0.0" },
    { name: "hairpin IPv6", source: "fd00::5", target: "fd00::5", spoof: true, want: "::" },
    { name: "hairpin IPv6, spelled differently", source: "fd00:0:0::5", target: "FD00::5", spoof: true, want: "::" },
    { name: "hairpin, IPv4-mapped client", source: "::ffff:10.0.0.5", target: "10.0.0.5", spoof: true, want: "0.0.0.0" },
  ];
  for (const c of cases)
    test(c.name, () => {
      assert.equal(transparentSource(c.source, c.target, c.spoof), c.want);
    });
});
