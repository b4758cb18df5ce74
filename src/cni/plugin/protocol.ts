/**
 * The CNI side of weft's chained plugin, pure: reading the CNI 1.0 invocation (CNI_* environment
 * and the network configuration on stdin), the pod event it forwards to the node agent, and the
 * spec's result and error documents. No IO here: plugin.ts does the reading and writing.
 *
 * Invariants (CNI spec 1.0, "Section 2: Execution Protocol" and "Section 5: Result Types"):
 *  - ADD and CHECK of a chained plugin need `prevResult`; ADD prints it back unchanged;
 *  - every failure is one error document `{cniVersion, code, msg, details}` on stdout;
 *  - DEL must succeed when things are already gone, so its event is best-effort.
 */
import { isIP } from "node:net";
import { type Result, ok, err } from "../../common/result.js";
import type { PodEvent } from "../../capture/agent-api.js";

/** The versions this plugin speaks (VERSION prints them). */
export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] as const;

/** Well-known CNI error codes (spec section 6) used by weft. */
export const CniCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = "",
  ) {
    super(message);
    this.name = "CniError";
  }
}

export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION";

/** weft's keys in the network configuration (besides the spec's cniVersion, name, type, prevResult). */
export interface WeftNetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  /** Node agent's Unix socket (HTTP), e.g. /run/weft/node-0/cni.sock. */
  readonly agentSocket: string;
  /** Namespaces whose pods start even when the agent is unreachable (Istio: kube-system, istio-system). */
  readonly excludeNamespaces: readonly string[];
  /** How long to wait for the agent, ms; default 5000. */
  readonly agentTimeoutMs: number;
  readonly prevResult?: PrevResult;
}

export interface PrevResult {
  readonly cniVersion?: string;
  readonly interfaces?: readonly { readonly name: string; readonly mac?: string; readonly sandbox?: string }[];
  readonly ips?: readonly { readonly address: string; readonly interface?: number; readonly gateway?: string }[];
  readonly [extra: string]: unknown;
}

export interface CniInvocation {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** Parsed CNI_ARGS (`K=V;K=V`). */
  readonly args: Readonly<Record<string, string>>;
  readonly path: string;
}

const bad = (code: number, msg: string, details = ""): { ok: false; error: CniError } => err(new CniError(code, msg, details));

/** CNI_* variables. VERSION needs none; DEL tolerates an empty CNI_NETNS (spec: may be gone). */
export function parseEnv(env: Readonly<Record<string, string | undefined>>): Result<CniInvocation, CniError> {
  const command = env.CNI_COMMAND;
  if (command !== "ADD" && command !== "DEL" && command !== "CHECK" && command !== "VERSION") {
    return bad(CniCode.invalidEnv, `CNI_COMMAND: ${JSON.stringify(command ?? "")} is not one of ADD, DEL, CHECK, VERSION`);
  }
  const args: Record<string, string> = {};
  for (const part of (env.CNI_ARGS ?? "").split(";")) {
    if (!part) continue;
    const i = part.indexOf("=");
    if (i <= 0) return bad(CniCode.invalidEnv, `CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE`);
    args[part.slice(0, i)] = part.slice(i + 1);
  }
  const inv: CniInvocation = {
    command,
    containerId: env.CNI_CONTAINERID ?? "",
    netns: env.CNI_NETNS ?? "",
    ifname: env.CNI_IFNAME ?? "",
    args,
    path: env.CNI_PATH ?? "",
  };
  if (command === "VERSION") return ok(inv);
  if (!inv.containerId) return bad(CniCode.invalidEnv, "CNI_CONTAINERID: required");
  if (!inv.ifname) return bad(CniCode.invalidEnv, "CNI_IFNAME: required");
  if (command !== "DEL" && !inv.netns) return bad(CniCode.invalidEnv, "CNI_NETNS: required for " + command);
  return ok(inv);
}

/** The network configuration from stdin, with weft's keys validated. */
export function parseNetConf(stdin: string, command: CniCommand): Result<WeftNetConf, CniError> {
  let doc: unknown;
  try {
    doc = JSON.parse(stdin);
  } catch (e) {
    return bad(CniCode.decodeFailure, "network configuration: not JSON", (e as Error).message);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    return bad(CniCode.decodeFailure, "network configuration: must be a JSON object");
  const o = doc as Record<string, unknown>;
  const version = o.cniVersion;
  if (typeof version !== "string" || !(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    return bad(
      CniCode.incompatibleVersion,
      `network configuration: cniVersion: ${JSON.stringify(version)} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  if (typeof o.name !== "string" || o.name === "") return bad(CniCode.invalidConfig, "network configuration: name: required string");
  if (typeof o.type !== "string" || o.type === "") return bad(CniCode.invalidConfig, "network configuration: type: required string");
  if (typeof o.agentSocket !== "string" || !o.agentSocket.startsWith("/"))
    return bad(CniCode.invalidConfig, "network configuration: agentSocket: required absolute path of the node agent's socket");
  const exclude = o.excludeNamespaces ?? ["kube-system", "istio-system"];
  if (!Array.isArray(exclude) || !exclude.every((n) => typeof n === "string"))
    return bad(CniCode.invalidConfig, "network configuration: excludeNamespaces: must be a list of namespace names");
  const timeout = o.agentTimeoutMs ?? 5000;
  if (typeof timeout !== "number" || !(timeout > 0 && timeout <= 60_000))
    return bad(CniCode.invalidConfig, "network configuration: agentTimeoutMs: must be 1-60000");
  const prev = o.prevResult;
  if (prev !== undefined && (typeof prev !== "object" || prev === null || Array.isArray(prev)))
    return bad(CniCode.invalidConfig, "network configuration: prevResult: must be an object");
  if ((command === "ADD" || command === "CHECK") && prev === undefined) {
    return bad(
      CniCode.invalidConfig,
      `network configuration: prevResult: required for ${command}: weft is a chained plugin and must come after the interface plugin`,
    );
  }
  return ok({
    cniVersion: version,
    name: o.name,
    type: o.type,
    agentSocket: o.agentSocket,
    excludeNamespaces: exclude as string[],
    agentTimeoutMs: timeout,
    ...(prev !== undefined ? { prevResult: prev as PrevResult } : {}),
  });
}

/**
 * The host side of the pod's veth in prevResult. The bridge plugin lists the bridge, then the
 * host veth, then the pod's interface (the only one with a `sandbox`); ptp lists the host veth,
 * then the pod's. So: the last interface without a sandbox listed before the pod's interface
 * (the one the first address names, else the first with a sandbox); with no sandbox interface,
 * the last one without. Never the bridge when a veth follows it.
 */
export function hostInterface(prev: WeftNetConf["prevResult"]): { name: string } | undefined {
  const list = prev?.interfaces ?? [];
  const named = (i: number): boolean => typeof list[i]?.name === "string" && !list[i]!.sandbox;
  const idx = prev?.ips?.[0]?.interface;
  const pod = typeof idx === "number" && list[idx]?.sandbox ? idx : list.findIndex((itf) => itf?.sandbox);
  for (let i = (pod >= 0 ? pod : list.length) - 1; i >= 0; i--) if (named(i)) return list[i];
  return undefined;
}

/**
 * The event for the agent: the pod's IPs from prevResult (addresses without prefix length) and
 * the host-side interface (hostInterface).
 */
export function podEvent(inv: CniInvocation, conf: WeftNetConf): Result<PodEvent, CniError> {
  const namespace = inv.args.K8S_POD_NAMESPACE ?? "";
  const name = inv.args.K8S_POD_NAME ?? "";
  const prev = conf.prevResult;
  const ips: string[] = [];
  for (const [i, entry] of (prev?.ips ?? []).entries()) {
    const ip = typeof entry?.address === "string" ? entry.address.split("/")[0]! : "";
    if (!isIP(ip))
      return bad(
        CniCode.invalidConfig,
        `network configuration: prevResult.ips[${i}].address: ${JSON.stringify(entry?.address)} is not an IP/prefix`,
      );
    ips.push(ip);
  }
  const host = hostInterface(prev);
  if (inv.command === "ADD" && ips.length === 0)
    return bad(CniCode.invalidConfig, "network configuration: prevResult.ips: the previous plugin assigned no address");
  return ok({
    command: inv.command === "VERSION" ? "CHECK" : inv.command,
    containerId: inv.containerId,
    netns: inv.netns,
    ifname: inv.ifname,
    namespace,
    name,
    ips,
    ...(host ? { hostInterface: host.name } : {}),
  });
}

/** Whether a failed ADD may let the pod start anyway (agent unreachable, excluded namespace). */
export function mayStartWithoutAgent(ev: PodEvent, conf: WeftNetConf): boolean {
  return ev.namespace !== "" && conf.excludeNamespaces.includes(ev.namespace);
}

export function errorDocument(cniVersion: string, e: CniError): string {
  return JSON.stringify({ cniVersion, code: e.code, msg: e.message, details: e.details });
}

export function versionDocument(cniVersion: string): string {
  return JSON.stringify({ cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] });
}
