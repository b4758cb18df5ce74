/**
 * Issue "zero-trust at L4", benchmark: the cost of connection admission with 0, 10 and 1000
 * AuthorizationPolicies in force. Two real ztunnels (in this process, loopback 127.0.80.0/24),
 * a client opening new connections through SOCKS5 (connect, 1 byte each way, close) with a few
 * concurrent workers for a fixed time per case; printed as connections/s and as a ratio to the
 * 0-policy case measured in the same run. Policies are realistic non-matching ones: the 10 case
 * puts them in the destination's namespace (all evaluated on every connection), the 1000 case
 * spreads them over 100 namespaces (10 apply) plus one ALLOW in the destination's namespace.
 * Bounded: BENCH_SECONDS per case (default 3), then everything is closed.
 */
import net from "node:net";
import { once } from "node:events";
import { CertificateAuthority } from "../src/ca/ca.js";
import { LocalCaClient } from "../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../src/ztunnel/ztunnel.js";
import { DEFAULT_PORTS, type ZtunnelConfig } from "../src/ztunnel/config.js";
import type { Authorization, Match } from "../src/common/model/authorization.js";
import { service, workload } from "../test/support/model.js";
import { socksConnect } from "../test/support/socks.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WORKERS = 4;
const SVC = "default/echo.default.svc.cluster.local";

const emptyMatch: Match = {
  namespaces: [],
  notNamespaces: [],
  principals: [],
  notPrincipals: [],
  sourceIps: [],
  notSourceIps: [],
  destinationIps: [],
  notDestinationIps: [],
  destinationPorts: [],
  notDestinationPorts: [],
  serviceAccounts: [],
  notServiceAccounts: [],
};

function policy(name: string, namespace: string, action: "ALLOW" | "DENY", principal: string): Authorization {
  return {
    name,
    namespace,
    scope: "NAMESPACE",
    action,
    dryRun: false,
    rules: [
      { clauses: [{ matches: [{ ...emptyMatch, principals: [{ exact: principal }], sourceIps: [{ address: "10.0.0.0", length: 8 }] }] }] },
    ],
  };
}

function cases(): Array<[string, Authorization[]]> {
  const ten = Array.from({ length: 10 }, (_, i) => policy(`deny-${i}`, "default", "DENY", `cluster.local/ns/other/sa/sa-${i}`));
  const thousand = Array.from({ length: 1000 }, (_, i) =>
    policy(`p-${i}`, i < 10 ? "default" : `ns-${i % 100}`, "DENY", `cluster.local/ns/other/sa/sa-${i}`),
  );
  return [
    ["0 policies", []],
    ["10 policies", ten],
    ["1000 policies", thousand],
  ];
}

async function rate(seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let n = 0;
  const worker = async () => {
    while (Date.now() < deadline) {
      const s = await socksConnect({
        proxy: { host: "127.0.80.1", port: 15080 },
        localAddress: "127.0.80.11",
        target: { host: "127.0.80.100", port: 80 },
      });
      s.end("x");
      await once(s, "data");
      s.destroy();
      n++;
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  return n / seconds;
}

async function main(): Promise<void> {
  const workloads = [
    workload({ name: "sleep", addresses: ["127.0.80.11"], node: "node-a", serviceAccount: "sleep" }),
    workload({
      name: "echo",
      addresses: ["127.0.80.21"],
      node: "node-b",
      serviceAccount: "echo",
      services: { [SVC]: [{ servicePort: 80, targetPort: 8080 }] },
    }),
  ];
  const services = [service({ name: "echo", vips: ["127.0.80.100"], ports: [{ servicePort: 80, targetPort: 8080 }] })];
  const config = (node: string, bindAddress: string): ZtunnelConfig => ({
    node,
    trustDomain: "cluster.local",
    network: "",
    clusterId: "c1",
    bindAddress,
    ports: DEFAULT_PORTS,
    capture: "none",
    outboundListeners: [],
    certTtlSeconds: 3600,
    drainSeconds: 0,
    ztunnelMark: 0x539,
    xdsSan: "",
    static: { settings: {}, workloads, services },
  });
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  if (!ca.ok) throw ca.error;
  const client = new LocalCaClient(ca.value);
  const za = new Ztunnel(config("node-a", "127.0.80.1"), { caClient: client, rootsPem: client.rootsPem });
  const zb = new Ztunnel(config("node-b", "127.0.80.2"), { caClient: client, rootsPem: client.rootsPem });
  const echo = net.createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  try {
    for (const z of [za, zb]) {
      const r = await z.start();
      if (!r.ok) throw r.error;
    }
    echo.listen(8080, "127.0.80.21");
    await once(echo, "listening");
    await rate(2); // warm-up: certificates, pooled HBONE connection, JIT
    // Rounds alternate the cases, so drift of a shared machine falls on every case alike.
    const ROUNDS = 3;
    const all = cases();
    const totals = new Map<string, number>(all.map(([name]) => [name, 0]));
    let previous: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, policies] of all) {
        zb.mutator.applyAuthorizations(
          policies,
          previous.filter((k) => !policies.some((p) => `${p.namespace}/${p.name}` === k)),
        );
        previous = policies.map((p) => `${p.namespace}/${p.name}`);
        totals.set(name, totals.get(name)! + (await rate(SECONDS / ROUNDS)) / ROUNDS);
      }
    }
    const rows: Array<[string, number]> = [...totals];
    const base = rows[0]![1];
    console.log(
      `\nconnection admission through two ztunnels (new connections/s, ${WORKERS} workers, ${SECONDS} s each in 3 alternating rounds)`,
    );
    console.log("| policies in force | conn/s | ratio to 0 policies |\n| --- | ---: | ---: |");
    for (const [name, r] of rows) console.log(`| ${name} | ${r.toFixed(0)} | ${(r / base).toFixed(2)} |`);
  } finally {
    echo.close();
    await Promise.all([za.stop(), zb.stop()]);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`authz-admission: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
