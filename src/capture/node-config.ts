/**
 * Validation of the capture configuration and of pods handed to a backend. Pure: bad input gets
 * an error naming the field, and nothing is applied (backend.ts invariants).
 */
import { isIP, isIPv4 } from "node:net";
import { type Result, ok, err } from "../common/result.js";
import type { NodeCapture, PodCapture } from "./backend.js";
import { canonicalIp } from "../common/net/addr.js";

/** Istio's ports; marks follow Istio ambient's (0x539 ztunnel sockets, 0x111 tproxy). */
export const nodeCaptureDefaults: Omit<NodeCapture, "instance"> = Object.freeze({
  ports: Object.freeze({ outbound: 15001, inboundPlaintext: 15006, hbone: 15008 }),
  marks: Object.freeze({ capture: 0x111, ztunnel: 0x539, loop: 0x222, mask: 0xfff }),
  routeTable: 133,
  rulePriority: 32000,
  pinRoot: "/sys/fs/bpf/weft",
});

export type NodeCaptureInput = Partial<Omit<NodeCapture, "ports" | "marks">> & {
  readonly instance: string;
  readonly ports?: Partial<NodeCapture["ports"]>;
  readonly marks?: Partial<NodeCapture["marks"]>;
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

export function validateNode(input: NodeCaptureInput): Result<NodeCapture> {
  const bad = (field: string, why: string): Result<NodeCapture> => err(new Error(`capture config: ${field}: ${why}`));
  if (!NAME.test(input.instance ?? "")) return bad("instance", `${JSON.stringify(input.instance)} must match ${NAME}`);
  const ports = { ...nodeCaptureDefaults.ports, ...input.ports };
  for (const [k, v] of Object.entries(ports)) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) return bad(`ports.${k}`, `${v} is not a port 1-65535`);
  }
  if (new Set(Object.values(ports)).size !== 3) return bad("ports", "outbound, inboundPlaintext and hbone must differ");
  const marks = { ...nodeCaptureDefaults.marks, ...input.marks };
  for (const [k, v] of Object.entries(marks)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) return bad(`marks.${k}`, `${v} is not a 32-bit mark`);
  }
  for (const k of ["capture", "ztunnel", "loop"] as const) {
    const v = marks[k];
    if (v === 0 || (v & marks.mask) !== v)
      return bad(`marks.${k}`, `0x${v.toString(16)} must be non-zero and inside mask 0x${marks.mask.toString(16)}`);
  }
  if (new Set([marks.capture, marks.ztunnel, marks.loop]).size !== 3) return bad("marks", "capture, ztunnel and loop must differ");
  const routeTable = input.routeTable ?? nodeCaptureDefaults.routeTable;
  if (!Number.isInteger(routeTable) || routeTable < 1 || routeTable > 0xfffffff0 || [253, 254, 255].includes(routeTable)) {
    return bad("routeTable", `${routeTable} must be a table id other than default/main/local`);
  }
  const rulePriority = input.rulePriority ?? nodeCaptureDefaults.rulePriority;
  if (!Number.isInteger(rulePriority) || rulePriority < 1 || rulePriority >= 32766) {
    return bad("rulePriority", `${rulePriority} must be 1-32765 (before the main table's rule)`);
  }
  const pinRoot = input.pinRoot ?? nodeCaptureDefaults.pinRoot;
  if (!pinRoot.startsWith("/sys/fs/bpf/") || pinRoot.includes(".."))
    return bad("pinRoot", `${JSON.stringify(pinRoot)} must be a folder under /sys/fs/bpf/`);
  if (input.dns !== undefined && (!Number.isInteger(input.dns.port) || input.dns.port < 1 || input.dns.port > 65535))
    return bad("dns.port", `${input.dns.port} is not a port 1-65535`);
  if (input.dns !== undefined && Object.values(ports).includes(input.dns.port))
    return bad("dns.port", `${input.dns.port} is one of the TCP capture ports`);
  if (input.dns?.address !== undefined && !isIPv4(input.dns.address))
    return bad("dns.address", `${JSON.stringify(input.dns.address)} is not an IPv4 address`);
  const dns6 = input.dns?.address6 !== undefined ? canonicalIp(input.dns.address6) : undefined;
  if (input.dns?.address6 !== undefined && (dns6 === undefined || !dns6.includes(":")))
    return bad("dns.address6", `${JSON.stringify(input.dns.address6)} is not an IPv6 address`);
  if (input.netns !== undefined && (input.netns === "" || (!input.netns.startsWith("/") && !NAME.test(input.netns)))) {
    return bad("netns", `${JSON.stringify(input.netns)} is not a namespace name or path`);
  }
  const procSysDir = input.procSysDir?.replace(/\/+$/, "");
  if (procSysDir !== undefined && (!procSysDir.startsWith("/") || procSysDir.split("/").includes("..")))
    return bad("procSysDir", `${JSON.stringify(input.procSysDir)} must be an absolute path without ".."`);
  // A net sysctl file acts on the writer's namespace: with another netns the write would hit the wrong one.
  if (procSysDir !== undefined && input.netns !== undefined)
    return bad("procSysDir", "only for an agent in the node's own network namespace (netns unset)");
  return ok(
    Object.freeze({
      ...(input.netns !== undefined ? { netns: input.netns } : {}),
      ...(procSysDir !== undefined ? { procSysDir } : {}),
      instance: input.instance,
      ports: Object.freeze(ports),
      marks: Object.freeze(marks),
      routeTable,
      rulePriority,
      pinRoot: pinRoot.replace(/\/+$/, ""),
      ...(input.dns !== undefined
        ? {
            dns: Object.freeze({
              port: input.dns.port,
              ...(input.dns.address !== undefined ? { address: input.dns.address } : {}),
              ...(dns6 !== undefined ? { address6: dns6 } : {}),
            }),
          }
        : {}),
    }),
  );
}

/**
 * Checks a pod before anything is applied: IPv4 and IPv6 addresses (dual-stack pods are captured
 * in both families). Addresses are returned in canonical text (RFC 5952 for IPv6), the form the
 * backends key their maps and sets by.
 */
export function validatePod(pod: PodCapture): Result<PodCapture> {
  const who = `pod ${pod.name ?? pod.hostVeth}`;
  if (!IFNAME.test(pod.hostVeth ?? "")) return err(new Error(`${who}: hostVeth: ${JSON.stringify(pod.hostVeth)} is not an interface name`));
  if (!Array.isArray(pod.ips) || pod.ips.length === 0) return err(new Error(`${who}: ips: at least one IP address is required`));
  const ips: string[] = [];
  for (const ip of pod.ips) {
    const c = typeof ip === "string" && isIP(ip) !== 0 ? canonicalIp(ip) : undefined;
    if (c === undefined) return err(new Error(`${who}: ips: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`));
    ips.push(c);
  }
  return ok({ ...pod, ips });
}
