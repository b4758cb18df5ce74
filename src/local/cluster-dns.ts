/**
 * DNS in the local cluster, as a Kubernetes cluster has it:
 *
 * - every pod gets a resolv.conf as the kubelet writes it for `dnsPolicy: ClusterFirst`
 *   (`nameserver <cluster DNS>`, `search <ns>.svc.cluster.local svc.cluster.local cluster.local`,
 *   `options ndots:5`), at `/etc/netns/<pod netns>/resolv.conf`, which `ip netns exec` (how pod
 *   containers run) mounts over /etc/resolv.conf;
 * - the cluster DNS (CoreDNS's part): `weft local dns`, in the underlay namespace on the control
 *   plane's address, port 53 (UDP and TCP), answers A records of the Services that have a cluster
 *   IP (`<name>.<ns>.svc.cluster.local`) and NXDOMAIN for every other name. It never forwards:
 *   nothing leaves the cluster's namespaces.
 * Enrolled pods' queries are captured and answered by their node's ztunnel first (which knows
 * ServiceEntry hosts too); ztunnel forwards the rest here. Non-enrolled pods ask here directly.
 *
 * The zone is fixed at `up` (the Service set is). Pure helpers, and the server's IO.
 */
import dgram from "node:dgram";
import net from "node:net";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import dnsPacket from "dns-packet";
import { type Result, ok, err } from "../common/result.js";
import type { LocalService } from "./manifests.js";

export const NETNS_ETC = "/etc/netns";
export const CLUSTER_DOMAIN = "cluster.local";

export function resolvConf(namespace: string, nameserver: string, clusterDomain = CLUSTER_DOMAIN): string {
  return [
    `nameserver ${nameserver}`,
    `search ${namespace}.svc.${clusterDomain} svc.${clusterDomain} ${clusterDomain}`,
    "options ndots:5",
    "",
  ].join("\n");
}

/** Writes a pod's resolv.conf where `ip netns exec <netns>` finds it. */
export async function writePodResolvConf(netns: string, namespace: string, nameserver: string): Promise<void> {
  await mkdir(path.join(NETNS_ETC, netns), { recursive: true });
  await writeFile(path.join(NETNS_ETC, netns, "resolv.conf"), resolvConf(namespace, nameserver));
}

/** Removes the /etc/netns folders of every namespace starting with `prefix`; returns what it removed. */
export async function removeResolvConfs(prefix: string): Promise<string[]> {
  const names = await readdir(NETNS_ETC).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.filter((x) => x.startsWith(prefix))) {
    await rm(path.join(NETNS_ETC, n), { recursive: true, force: true });
    out.push(`resolv.conf of ${n}`);
  }
  return out;
}

/** name -> addresses (IPv4 and IPv6): the Services with a cluster IP. */
export function clusterZone(services: readonly LocalService[], clusterDomain = CLUSTER_DOMAIN): Record<string, string[]> {
  const zone: Record<string, string[]> = {};
  for (const s of services) {
    const ips = (s.clusterIPs ?? (s.clusterIP ? [s.clusterIP] : [])).filter((ip) => net.isIP(ip) !== 0);
    if (ips.length > 0) zone[`${s.name}.${s.namespace}.svc.${clusterDomain}`] = ips;
  }
  return zone;
}

/** The cluster DNS's answer to one query (raw bytes), or undefined for garbage. */
export function clusterAnswer(zone: Readonly<Record<string, readonly string[]>>, msg: Buffer): Buffer | undefined {
  let q: ReturnType<typeof dnsPacket.decode>;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  const question = q.questions?.[0];
  if (q.type !== "query" || !question) return undefined;
  const name = question.name.toLowerCase().replace(/\.$/, "");
  const ips = zone[name];
  const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  if (!ips)
    return dnsPacket.encode({ type: "response", id: q.id ?? 0, flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | 3, questions: [question] });
  return dnsPacket.encode({
    type: "response",
    id: q.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | rd,
    questions: [question],
    // A for the IPv4 cluster IP, AAAA for the IPv6 one (dual stack); other types: no data.
    answers:
      question.type === "A" || question.type === "AAAA"
        ? ips
            .filter((ip) => net.isIPv6(ip) === (question.type === "AAAA"))
            .map((data) => ({ type: question.type as "A" | "AAAA", name: question.name, ttl: 30, class: "IN" as const, data }))
        : [],
  });
}

export interface ClusterDns {
  close(): Promise<void>;
}

export async function startClusterDns(
  host: string,
  port: number,
  zone: Readonly<Record<string, readonly string[]>>,
): Promise<Result<ClusterDns>> {
  const udp = net.isIPv6(host) ? dgram.createSocket({ type: "udp6", ipv6Only: true }) : dgram.createSocket("udp4");
  const e1 = await new Promise<Error | undefined>((resolve) => {
    udp.once("error", resolve);
    udp.bind(port, host, () => resolve(undefined));
  });
  if (e1) return err(new Error(`cluster dns: udp ${host}:${port}: ${e1.message}`));
  udp.on("message", (m, r) => {
    const a = clusterAnswer(zone, m);
    if (a) udp.send(a, r.port, r.address);
  });
  const tcp = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const a = clusterAnswer(zone, buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (!a) continue;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(a.length);
        s.write(Buffer.concat([len, a]));
      }
    });
  });
  const e2 = await new Promise<Error | undefined>((resolve) => {
    tcp.once("error", resolve);
    tcp.listen(port, host, () => resolve(undefined));
  });
  if (e2) {
    udp.close();
    return err(new Error(`cluster dns: tcp ${host}:${port}: ${e2.message}`));
  }
  return ok({
    close: () =>
      new Promise<void>((r) => {
        udp.close();
        tcp.close(() => r());
      }),
  });
}
