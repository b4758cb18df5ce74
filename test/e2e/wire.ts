/**
 * What an underlay capture proves, read by tools that are not weft: tcpdump counts packets by
 * filter, tshark decrypts the HBONE connections on 15008 with the TLS key log that Node itself
 * writes (`--tls-keylog`, set in the cluster's NODE_OPTIONS by the test) and reports, per TCP
 * connection, the TLS version the server chose, the SPIFFE URI SANs of the certificates each side
 * sent, and the `:authority` of every HTTP/2 CONNECT. In TLS 1.3 certificates are encrypted, so
 * seeing the client's certificate at all requires decrypting the handshake: a wrong key log
 * yields no certificates, which fails the checks built on this (never a silent pass).
 */
import { sh } from "./harness.js";

/** Packets in `pcap` matching the tcpdump `filter` (all packets when empty). */
export async function packets(pcap: string, filter = ""): Promise<number> {
  const r = await sh("tcpdump", ["-nn", "-r", pcap, ...(filter ? [filter] : [])], 30_000);
  if (r.code !== 0) throw new Error(`tcpdump -r ${pcap} ${filter}: ${r.stderr.trim()}`);
  return r.stdout.split("\n").filter((l) => l.trim()).length;
}

/**
 * The packets in `pcap` matching `filter`, one line each, for a failure message that explains
 * itself: time, source and destination, TCP flags, sequence numbers, payload length and, where
 * there is a payload, its first bytes (hex and printable ASCII). At most `max` packets.
 */
export async function describePackets(pcap: string, filter: string, max = 24): Promise<string> {
  const r = await sh("tcpdump", ["-nn", "-tt", "-X", "-r", pcap, filter], 30_000);
  if (r.code !== 0) return `tcpdump -r ${pcap} ${filter}: ${r.stderr.trim()}`;
  const out: string[] = [];
  let hex: string[] = [];
  const flush = () => {
    if (out.length === 0) return;
    // tcpdump -X dumps the whole packet (hex and ASCII); the IPv4/IPv6 and TCP headers end by
    // offset 0x30-0x48, so the lines from 0x30 to 0x6f hold the payload's first bytes.
    const body = hex.slice(3, 7).map((l) =>
      l
        .replace(/^\s*0x[0-9a-f]+:\s+/, "")
        .replace(/\s+/g, " ")
        .trim(),
    );
    if (body.length > 0) out[out.length - 1] += ` | ${body.join(" | ")}`;
    hex = [];
  };
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    if (/^\s+0x[0-9a-f]+:/.test(line)) hex.push(line);
    else {
      flush();
      if (out.length >= max) break;
      out.push(line.trim());
    }
  }
  flush();
  return out.join("\n");
}

/** One TCP connection to port 15008 as tshark decrypted it. */
export interface HboneConnection {
  readonly client: string;
  readonly server: string;
  /** ServerHello's supported_versions choice, e.g. "0x0304" (TLS 1.3); "" if no ServerHello was seen. */
  readonly version: string;
  /** URI SANs of the certificates the client sent (TLS 1.3: only visible decrypted). */
  readonly clientCertUris: readonly string[];
  /** URI SANs of the certificates the server sent. */
  readonly serverCertUris: readonly string[];
  /** `:authority` of each CONNECT the client sent (decrypted HTTP/2). */
  readonly connects: readonly string[];
}

const FIELDS = [
  "tcp.stream",
  "ip.src",
  "ip.dst",
  "tcp.srcport",
  "tcp.dstport",
  "tls.handshake.type",
  "tls.handshake.extensions.supported_version",
  "x509ce.uniformResourceIdentifier",
  "http2.header.name",
  "http2.header.value",
  // IPv6 connections carry their addresses here instead of ip.src/ip.dst.
  "ipv6.src",
  "ipv6.dst",
] as const;

/** Decrypts the capture's port-15008 traffic with `keylog` and groups what it shows by connection. */
export async function hboneConnections(pcap: string, keylog: string, port = 15008): Promise<HboneConnection[]> {
  const args = ["-n", "-r", pcap, "-o", `tls.keylog_file:${keylog}`, "-d", `tcp.port==${port},tls`, "-Y", `tcp.port==${port} && tls`];
  args.push("-T", "fields", "-E", "separator=\t", "-E", "aggregator=|", ...FIELDS.flatMap((f) => ["-e", f]));
  const r = await sh("tshark", args, 60_000);
  if (r.code !== 0) throw new Error(`tshark: ${r.stderr.trim()}`);
  const byStream = new Map<string, { client: string; server: string; version: string; c: string[]; s: string[]; connects: string[] }>();
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    const [stream, src4, dst4, , dport, types, versions, uris, names, values, src6, dst6] = line.split("\t") as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string | undefined,
      string | undefined,
    ];
    const src = src4 || src6 || "";
    const dst = dst4 || dst6 || "";
    const toServer = dport === String(port);
    let c = byStream.get(stream);
    if (!c) {
      c = { client: toServer ? src : dst, server: toServer ? dst : src, version: "", c: [], s: [], connects: [] };
      byStream.set(stream, c);
    }
    const typeList = types ? types.split("|") : [];
    // The ServerHello (type 2) carries the negotiated version; a ClientHello lists the offered ones.
    if (!toServer && typeList.includes("2") && versions) c.version = versions.split("|")[0]!;
    if (uris && typeList.includes("11")) (toServer ? c.c : c.s).push(...uris.split("|"));
    if (toServer && names) {
      const n = names.split("|");
      const v = (values ?? "").split("|");
      // Client-to-server header blocks are requests; HBONE sends only CONNECTs.
      if (n.some((x, i) => x === ":method" && v[i] === "CONNECT"))
        for (let i = 0; i < n.length; i++) if (n[i] === ":authority") c.connects.push(v[i]!);
    }
  }
  return [...byStream.values()].map((x) => ({
    client: x.client,
    server: x.server,
    version: x.version,
    clientCertUris: x.c,
    serverCertUris: x.s,
    connects: x.connects,
  }));
}
