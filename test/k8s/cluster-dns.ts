/**
 * The test bed's cluster DNS, a stand-in for CoreDNS's `kubernetes` plugin (a fake, named as one:
 * CoreDNS is not built here). It answers, over UDP and TCP, what a cluster's DNS answers for
 * Services: `<svc>.<ns>.svc.<domain>` A records (the ClusterIP; for a headless Service the ready
 * endpoint addresses), SRV-less, and NXDOMAIN for every other name in the cluster domain. Names
 * outside the cluster domain get REFUSED: nothing in the test bed may resolve the outside world.
 *
 * It runs in `wtb-net`, reads Services and EndpointSlices from the apiserver once a second, and
 * is reached by pods through the `kube-system/kube-dns` Service (10.252.0.10, a selector-less
 * Service whose EndpointSlice points at this server), like kube-dns in a real cluster.
 *
 * Usage: node cluster-dns.js --listen IP --server URL --token-file FILE --ca FILE [--domain cluster.local]
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import dnsPacket from "dns-packet";

export interface ServiceRecord {
  readonly name: string;
  readonly namespace: string;
  /** ClusterIP(s), or the ready endpoint addresses of a headless Service. */
  readonly ips: readonly string[];
}

/** The answer for one question (pure): addresses, NXDOMAIN, or REFUSED (not ours). */
export function resolve(
  records: readonly ServiceRecord[],
  domain: string,
  qname: string,
  qtype: string,
): { rcode: "NOERROR" | "NXDOMAIN" | "REFUSED"; ips: string[] } {
  const name = qname.toLowerCase().replace(/\.$/, "");
  const suffix = `.svc.${domain}`;
  if (name !== domain && !name.endsWith(`.${domain}`)) return { rcode: "REFUSED", ips: [] };
  if (!name.endsWith(suffix)) return { rcode: "NXDOMAIN", ips: [] };
  const parts = name.slice(0, -suffix.length).split(".");
  if (parts.length !== 2) return { rcode: parts.length === 1 ? "NOERROR" : "NXDOMAIN", ips: [] }; // a namespace: exists, no address
  const rec = records.find((r) => r.name === parts[0] && r.namespace === parts[1]);
  if (!rec) return { rcode: "NXDOMAIN", ips: [] };
  const family = qtype === "AAAA" ? 6 : 4;
  return { rcode: "NOERROR", ips: qtype === "A" || qtype === "AAAA" ? rec.ips.filter((ip) => net.isIP(ip) === family) : [] };
}

interface Service {
  metadata: { name: string; namespace: string };
  spec: { clusterIPs?: string[]; clusterIP?: string };
}
interface Slice {
  metadata: { namespace: string; labels?: Record<string, string> };
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

/** Service records from the API's lists (pure). */
export function records(services: readonly Service[], slices: readonly Slice[]): ServiceRecord[] {
  return services.map((s) => {
    const ips = (s.spec.clusterIPs ?? [s.spec.clusterIP ?? ""]).filter((ip) => ip && ip !== "None");
    if (ips.length > 0) return { name: s.metadata.name, namespace: s.metadata.namespace, ips };
    const ready = slices
      .filter(
        (sl) => sl.metadata.namespace === s.metadata.namespace && sl.metadata.labels?.["kubernetes.io/service-name"] === s.metadata.name,
      )
      .flatMap((sl) => sl.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false)
      .flatMap((e) => e.addresses);
    return { name: s.metadata.name, namespace: s.metadata.namespace, ips: [...new Set(ready)].sort() };
  });
}

function answer(query: Buffer, current: () => readonly ServiceRecord[], domain: string): Buffer {
  const q = dnsPacket.decode(query);
  const question = q.questions?.[0];
  if (!question) return dnsPacket.encode({ id: q.id, type: "response", flags: dnsPacket.RECURSION_DESIRED | 1, questions: [] });
  const r = resolve(current(), domain, question.name, question.type);
  const rcodeBits = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5 }[r.rcode];
  return dnsPacket.encode({
    id: q.id,
    type: "response",
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (q.flags! & dnsPacket.RECURSION_DESIRED) | rcodeBits,
    questions: [question],
    answers: r.ips.map((ip) => ({ type: question.type as "A" | "AAAA", class: "IN", name: question.name, ttl: 5, data: ip })),
  });
}

function getJson<T>(url: string, ca: string, token: string): Promise<T> {
  return new Promise((resolveP, reject) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        res.statusCode === 200
          ? resolveP(JSON.parse(Buffer.concat(chunks).toString()) as T)
          : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
  });
}

function main(): void {
  const arg = (name: string, dflt?: string): string => {
    const i = process.argv.indexOf(name);
    const v = i > 0 ? process.argv[i + 1] : dflt;
    if (v === undefined) throw new Error(`cluster-dns: ${name} is required`);
    return v;
  };
  const listen = arg("--listen");
  const server = arg("--server");
  const ca = readFileSync(arg("--ca"), "utf8");
  const token = readFileSync(arg("--token-file"), "utf8").trim();
  const domain = arg("--domain", "cluster.local");
  let current: ServiceRecord[] = [];
  const refresh = async (): Promise<void> => {
    const [svcs, slices] = await Promise.all([
      getJson<{ items: Service[] }>(`${server}/api/v1/services`, ca, token),
      getJson<{ items: Slice[] }>(`${server}/apis/discovery.k8s.io/v1/endpointslices`, ca, token),
    ]);
    current = records(svcs.items, slices.items);
  };
  const loop = (): void => {
    refresh()
      .catch((e: Error) => console.error(`cluster-dns: ${e.message}`))
      .finally(() => setTimeout(loop, 1000).unref());
  };
  const udp = dgram.createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    try {
      udp.send(
        answer(msg, () => current, domain),
        rinfo.port,
        rinfo.address,
      );
    } catch {
      // malformed query: no answer, like a server that cannot parse it
    }
  });
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        try {
          const a = answer(buf.subarray(2, 2 + len), () => current, domain);
          const framed = Buffer.alloc(2 + a.length);
          framed.writeUInt16BE(a.length, 0);
          a.copy(framed, 2);
          sock.write(framed);
        } catch {
          sock.destroy();
        }
        buf = buf.subarray(2 + len);
      }
    });
    sock.on("error", () => sock.destroy());
  });
  refresh()
    .catch((e: Error) => console.error(`cluster-dns: first list: ${e.message}`))
    .finally(() => {
      udp.bind(53, listen, () => tcp.listen(53, listen, () => console.log(`cluster-dns: serving ${domain} on ${listen}:53`)));
      loop();
    });
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
}

if (require.main === module) main();
