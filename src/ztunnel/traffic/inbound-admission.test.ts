import { test } from "node:test";
import assert from "node:assert/strict";
import { ProxyState } from "../../proxy/state/state.js";
import { StateMutator } from "../../proxy/state/mutator.js";
import { admitHbone, admitPlaintext, type Authorize, type InboundContext } from "./inbound-admission.js";
import { identity } from "../../common/spiffe.js";
import { workload } from "../../../test/support/model.js";

function ctx(authorize: Authorize = () => ({ allowed: true, reason: "no policies" })): InboundContext {
  const state = new ProxyState();
  new StateMutator(state).applyAddresses(
    [
      { kind: "workload", value: workload({ name: "echo", addresses: ["10.0.1.2"], node: "node-a" }) },
      { kind: "workload", value: workload({ name: "remote", addresses: ["10.0.2.2"], node: "node-b" }) },
      { kind: "workload", value: workload({ name: "legacy", addresses: ["10.0.1.9"], node: "node-a", tunnelProtocol: "NONE" }) },
    ],
    [],
  );
  return { state, node: "node-a", network: "", authorize };
}

const peer = identity("cluster.local", "default", "sleep");

test("inbound admission: HBONE requests get upstream's status codes", () => {
  const cases: Array<[string, string, string, string | undefined, string]> = [
    ["a CONNECT to a local workload is admitted", "CONNECT", "10.0.1.2:8080", "10.0.1.2", "ok 10.0.1.2:8080"],
    ["a non-CONNECT method is a bad request", "GET", "10.0.1.2:8080", "10.0.1.2", "400"],
    ["an unparsable authority is a bad request", "CONNECT", "echo:8080", "10.0.1.2", "400"],
    ["a target other than the dialled workload is a bad request", "CONNECT", "10.0.1.9:80", "10.0.1.2", "400"],
    ["an unknown target is unavailable", "CONNECT", "10.9.9.9:80", undefined, "503"],
    ["a workload on another node is unavailable", "CONNECT", "10.0.2.2:80", undefined, "503"],
    ["a workload outside the mesh is unavailable", "CONNECT", "10.0.1.9:80", undefined, "503"],
  ];
  const reasons: Record<string, RegExp> = {
    "a non-CONNECT method is a bad request": /^method GET not allowed, only CONNECT$/,
    "an unparsable authority is a bad request": /^bad authority: /,
    "a target other than the dialled workload is a bad request":
      /^target 10\.0\.1\.9:80 does not match the connection's destination 10\.0\.1\.2$/,
  };
  for (const [name, method, authority, dialled, want] of cases) {
    const d = admitHbone(ctx(), {
      method,
      authority,
      ...(dialled ? { connectionDestinationIp: dialled } : {}),
      sourceIp: "10.0.2.1",
      peer,
    });
    assert.equal(d.ok ? `ok ${d.upstream.ip}:${d.upstream.port}` : String(d.status), want, name);
    if (!d.ok && reasons[name]) assert.match(d.reason, reasons[name], name);
  }
});

test("inbound admission: authorization sees the peer and denies with 401", () => {
  const seen: unknown[] = [];
  const deny: Authorize = (conn, w) => {
    seen.push({ ...conn, dest: w.name });
    return { allowed: false, reason: "policy default/deny-all rule 0", policy: "default/deny-all" };
  };
  const d = admitHbone(ctx(deny), { method: "CONNECT", authority: "10.0.1.2:8080", sourceIp: "10.0.2.1", sourcePort: 5555, peer });
  assert.ok(!d.ok);
  assert.equal(d.status, 401);
  assert.match(d.reason, /default\/deny-all/);
  assert.deepEqual(seen, [
    { sourceIp: "10.0.2.1", sourcePort: 5555, destinationIp: "10.0.1.2", destinationPort: 8080, sourceIdentity: peer, dest: "echo" },
  ]);
});

test("inbound admission: plaintext peers are authorized without an identity", () => {
  let sawIdentity: unknown = "unset";
  const d = admitPlaintext(
    ctx((c) => ((sawIdentity = c.sourceIdentity), { allowed: true, reason: "" })),
    { ip: "10.0.1.2", port: 80 },
    { ip: "10.0.3.3" },
  );
  assert.ok(d.ok);
  assert.equal(sawIdentity, undefined);
});

test("inbound admission: captured plaintext is refused for policy, other nodes, and pods outside the mesh", () => {
  const denyPlain: Authorize = (c) =>
    c.sourceIdentity
      ? { allowed: true, reason: "" }
      : { allowed: false, reason: "denied by DENY policy default/no-plain rule 0", policy: "default/no-plain" };
  const cases: Array<[string, Authorize | undefined, string, string]> = [
    ["admitted to a local mesh workload", undefined, "10.0.1.2", "ok 10.0.1.2:80"],
    ["a policy denial is 401 and names the policy", denyPlain, "10.0.1.2", "401 denied: denied by DENY policy default/no-plain rule 0"],
    ["a pod on another node is 503", undefined, "10.0.2.2", "503 target 10.0.2.2 (default/remote) runs on node node-b, not on node-a"],
    ["a pod outside the mesh is 503", undefined, "10.0.1.9", "503 target default/legacy is not enrolled in the mesh"],
    ["an unknown address is 503", undefined, "10.9.9.9", "503 unknown target 10.9.9.9: no workload has this address"],
  ];
  for (const [name, authorize, ip, want] of cases) {
    const d = admitPlaintext(ctx(authorize), { ip, port: 80 }, { ip: "10.0.3.3", port: 4444 });
    assert.equal(d.ok ? `ok ${d.upstream.ip}:${d.upstream.port}` : `${d.status} ${d.reason}`, want, name);
  }
  // The authorizer sees exactly the connection's facts, no identity for plaintext.
  const seen: unknown[] = [];
  const record: Authorize = (c) => (seen.push(c), { allowed: true, reason: "" });
  assert.ok(admitPlaintext(ctx(record), { ip: "10.0.1.2", port: 80 }, { ip: "10.0.3.3", port: 4444 }).ok);
  assert.ok(admitPlaintext(ctx(record), { ip: "10.0.1.2", port: 81 }, { ip: "10.0.3.3" }).ok);
  assert.ok(admitHbone(ctx(record), { method: "CONNECT", authority: "10.0.1.2:82", sourceIp: "10.0.2.1", peer }).ok);
  assert.deepStrictEqual(seen, [
    { sourceIp: "10.0.3.3", sourcePort: 4444, destinationIp: "10.0.1.2", destinationPort: 80 },
    { sourceIp: "10.0.3.3", destinationIp: "10.0.1.2", destinationPort: 81 },
    { sourceIp: "10.0.2.1", destinationIp: "10.0.1.2", destinationPort: 82, sourceIdentity: peer },
  ]);
  // Nothing outside the mesh or on another node ever reaches the authorizer (it cannot allow them).
  let asked = 0;
  const count: Authorize = () => (asked++, { allowed: true, reason: "" });
  for (const ip of ["10.0.2.2", "10.0.1.9", "10.9.9.9"]) assert.ok(!admitPlaintext(ctx(count), { ip, port: 80 }, { ip: "10.0.3.3" }).ok);
  assert.equal(asked, 0);
});

test("inbound: the forwarded source address is believed only for the peer's own workloads", async () => {
  const { trustedClientAddress } = await import("./inbound.js");
  const c = ctx();
  const remote = { ip: "10.0.2.100", port: 40000 };
  const cases: Array<[string, string, string]> = [
    ["a peer speaking for a workload with its own identity", "10.0.1.2", "10.0.1.2"],
    ["a peer claiming another identity's workload address", "10.0.2.2", remote.ip],
    ["a peer claiming an address the mesh does not know", "192.0.2.1", remote.ip],
  ];
  for (const [name, claimed, want] of cases) {
    const got = trustedClientAddress(c, {
      forwarded: { for: { ip: claimed, port: 1 } },
      remoteAddress: remote,
      peerIdentity: identity("cluster.local", "default", "echo"),
    });
    assert.equal(got.ip, want, name);
  }
  assert.equal(trustedClientAddress(c, { forwarded: {}, remoteAddress: remote, peerIdentity: peer }).ip, remote.ip);
});

test("inbound admission: plaintext from the node itself skips authorization (kubelet probes), other plaintext does not", () => {
  const deny: Authorize = () => ({
    allowed: false,
    reason: "ALLOW policy default/only-client matched no rule",
    policy: "default/only-client",
  });
  const withNode = { ...ctx(deny), isNodeAddress: (ip: string) => ip === "10.0.1.1" };
  const dst = { ip: "10.0.1.2", port: 8080 };
  const probe = admitPlaintext(withNode, dst, { ip: "10.0.1.1", port: 40000 });
  assert.ok(probe.ok && probe.authz.allowed && /kubelet probes/.test(probe.authz.reason));
  const other = admitPlaintext(withNode, dst, { ip: "10.0.1.7", port: 40000 });
  assert.ok(!other.ok && other.status === 401, "another source is still authorized");
  const enforced = admitPlaintext(ctx(deny), dst, { ip: "10.0.1.1", port: 40000 });
  assert.ok(!enforced.ok && enforced.status === 401, "without isNodeAddress (enforce) the node is authorized too");
  const unknown = admitPlaintext(withNode, { ip: "10.9.9.9", port: 80 }, { ip: "10.0.1.1" });
  assert.ok(!unknown.ok && unknown.status === 503, "only to local enrolled workloads");
});
