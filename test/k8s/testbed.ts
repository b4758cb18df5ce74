/**
 * The real Kubernetes test bed (docs/kubernetes-testbed.md): etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler in network namespace `wtb-net`; per node a network
 * namespace and a private mount namespace running containerd (Debian), kubelet and kube-proxy;
 * weft's images imported into every node's containerd. Root only. Nothing changes in the root
 * network namespace; a crashed run is cleaned up by the next start (reap.ts).
 *
 * `startTestbed()` returns once every Node is Ready, has its podCIDR, and the `default`
 * ServiceAccount exists. Take `flock /tmp/weft-testbed.lock` (or /tmp/weft-test.lock when weft's
 * capture runs on it) around any test that starts one.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { isRoot, Netns, sh } from "../support/netns.js";
import { makeTestPki } from "../kube/pki.js";
import { kubeBinaries, nodeBinaries, type KubeBinaries, type NodeBinaries } from "../kube/binaries.js";
import { Daemon, eventually } from "./daemon.js";
import { nodeMountScript } from "./node-mounts.js";
import { OWNER_PID_FILE, reapTestbed, RELAY_PID_FILE } from "./reap.js";
import { ensureImages, type TestbedImage } from "./images.js";
import * as t from "./topology.js";

const execFileP = promisify(execFile);

export interface TestbedOptions {
  /** 1 or 2 nodes (default 2). */
  readonly nodes?: number;
  /** The primary CNI (topology.ts PodNetwork): bridge (default) or ptp. */
  readonly podNetwork?: t.PodNetwork;
  readonly log?: (line: string) => void;
}

export interface Testbed {
  readonly nodes: readonly t.NodeLayout[];
  readonly images: readonly TestbedImage[];
  /** Admin kubeconfig for the test process' namespace (server https://127.0.0.1:36443). */
  readonly kubeconfigPath: string;
  /** Admin kubeconfig for use inside the test bed (server https://10.250.0.1:6443). */
  readonly innerKubeconfigPath: string;
  readonly bins: NodeBinaries & KubeBinaries;
  /** kubectl with the admin kubeconfig; rejects with stderr on failure. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
  kubectlJson<T>(args: readonly string[]): Promise<T>;
  /** A command in a node's network and mount namespaces. */
  exec(node: string, argv: readonly string[]): Promise<string>;
  /** containerd's ctr on a node (k8s.io namespace). */
  ctr(node: string, args: readonly string[]): Promise<string>;
  /** Stops the node's kubelet (SIGTERM) and starts it again. */
  restartKubelet(node: string): Promise<void>;
  /** Log tails of every daemon, for failure messages. */
  diagnostics(): string;
  stop(): Promise<void>;
}

/** Why the test bed cannot run here, or undefined. Builds missing binaries unless WEFT_SKIP_KUBE_BUILD. */
export function testbedSkipReason(): string | undefined {
  if (!isRoot()) return "needs root: network and mount namespaces, cgroups, containerd";
  for (const tool of ["containerd", "runc", "ctr"]) {
    if (!["/usr/bin", "/usr/sbin"].some((d) => existsSync(path.join(d, tool))))
      return `${tool} is not installed (scripts/setup.sh installs it)`;
  }
  for (const p of t.CNI_PLUGINS) if (!existsSync(path.join(t.DEBIAN_CNI_DIR, p))) return `CNI plugin ${p} missing in ${t.DEBIAN_CNI_DIR}`;
  const k = kubeBinaries();
  if (!k.ok) return k.reason;
  const n = nodeBinaries();
  if (!n.ok) return n.reason;
  return undefined;
}

const token = (): string => randomBytes(16).toString("hex");

export async function startTestbed(opts: TestbedOptions = {}): Promise<Testbed> {
  const log = opts.log ?? ((l: string) => console.log(`testbed: ${l}`));
  const count = opts.nodes ?? 2;
  const k = kubeBinaries();
  const nb = nodeBinaries();
  if (!k.ok || !nb.ok) throw new Error(`test bed: ${!k.ok ? k.reason : !nb.ok ? nb.reason : ""}`);
  const bins = { ...k.value, ...nb.value };
  const found = await reapTestbed();
  if (found.length > 0) log(`cleaned up after an earlier run: ${found.join(", ")}`);
  const t0 = Date.now();
  const images = ensureImages(log);
  const nodes = Array.from({ length: count }, (_, i) => t.nodeLayout(i + 1));
  const daemons: Daemon[] = [];
  const kubelets = new Map<string, Daemon>();
  mkdirSync(t.RUN_ROOT, { recursive: true });
  mkdirSync(t.STATE_ROOT, { recursive: true });
  writeFileSync(OWNER_PID_FILE, String(process.pid));
  // Credentials, configs and logs under the state root: the nodes see /var/lib, not the host's /run.
  const f = (name: string): string => path.join(t.STATE_ROOT, name);
  const stop = async (): Promise<void> => {
    for (const d of [...daemons].reverse()) await d.stop(0);
    await reapTestbed();
  };

  try {
    // PKI and credentials: a static token per component.
    const pki = await makeTestPki(t.APISERVER_IP, {
      ips: [t.KUBERNETES_SERVICE_IP, t.HOST_API_ADDRESS],
      dns: ["kubernetes", "kubernetes.default", `kubernetes.default.svc.${t.CLUSTER_DOMAIN}`],
    });
    writeFileSync(f("ca.pem"), pki.caPem);
    writeFileSync(f("apiserver.pem"), pki.serverCertPem);
    writeFileSync(f("apiserver-key.pem"), pki.serverKeyPem, { mode: 0o600 });
    writeFileSync(f("sa-key.pem"), pki.saKeyPem, { mode: 0o600 });
    writeFileSync(f("sa-pub.pem"), pki.saPubPem);
    const users: [string, string, string, string?][] = [
      ["admin", token(), "weft-testbed-admin", "system:masters"],
      ["controller-manager", token(), "system:kube-controller-manager"],
      ["scheduler", token(), "system:kube-scheduler"],
      ["kube-proxy", token(), "system:kube-proxy"],
      ["cluster-dns", token(), "weft-testbed:cluster-dns"],
      ...nodes.map((n): [string, string, string, string] => [n.name, token(), `system:node:${n.name}`, "system:nodes"]),
    ];
    writeFileSync(
      f("tokens.csv"),
      users.map(([, tok, user, group]) => `${tok},${user},${user}${group ? `,"${group}"` : ""}`).join("\n") + "\n",
      { mode: 0o600 },
    );
    const inner = `https://${t.APISERVER_IP}:${t.APISERVER_PORT}`;
    for (const [name, tok] of users) writeFileSync(f(`${name}.kubeconfig`), t.kubeconfig(inner, f("ca.pem"), tok), { mode: 0o600 });
    const kubeconfigPath = path.join(t.RUN_ROOT, "admin.kubeconfig");
    const innerKubeconfigPath = f("admin-inner.kubeconfig");
    writeFileSync(innerKubeconfigPath, t.kubeconfig(inner, f("ca.pem"), users[0]![1]), { mode: 0o600 });
    writeFileSync(kubeconfigPath, t.kubeconfig(`https://${t.HOST_API_ADDRESS}:${t.HOST_API_PORT}`, f("ca.pem"), users[0]![1]), {
      mode: 0o600,
    });

    // Network: the underlay bridge in wtb-net, a veth per node, routes between pod ranges.
    const underlay = await Netns.create(t.UNDERLAY_NS);
    await underlay.exec("ip", ["link", "add", t.BRIDGE, "type", "bridge"]);
    await underlay.exec("ip", ["addr", "add", `${t.APISERVER_IP}/24`, "dev", t.BRIDGE]);
    await underlay.exec("ip", ["addr", "add", `${t.CLUSTER_DNS_SERVER}/24`, "dev", t.BRIDGE]);
    await underlay.exec("ip", ["link", "set", t.BRIDGE, "up"]);
    for (const n of nodes) {
      const ns = await Netns.create(n.netns);
      await underlay.exec("ip", ["link", "add", n.underlayVeth, "type", "veth", "peer", "name", "eth0", "netns", n.netns]);
      await underlay.exec("ip", ["link", "set", n.underlayVeth, "master", t.BRIDGE, "up"]);
      await ns.exec("ip", ["addr", "add", `${n.ip}/24`, "dev", "eth0"]);
      await ns.exec("ip", ["link", "set", "eth0", "up"]);
      for (const r of t.nodeRoutes(n, nodes)) await ns.exec("ip", ["route", "add", ...r]);
      await ns.sysctl("net.ipv4.ip_forward", 1);
      await underlay.exec("ip", ["route", "add", n.podCidr, "via", n.ip]);
    }

    // Control plane in wtb-net.
    const cp = (name: string, argv: string[]): Daemon => {
      const d = new Daemon({ name, argv, netns: t.UNDERLAY_NS, log: f(`${name}.log`) }).start();
      daemons.push(d);
      return d;
    };
    const etcdUrl = "http://127.0.0.1:2379";
    const etcd = cp("etcd", [
      bins.etcd,
      "--name=wtb",
      `--data-dir=${path.join(t.STATE_ROOT, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      "--listen-peer-urls=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=wtb=http://127.0.0.1:2380",
      "--log-level=warn",
      "--unsafe-no-fsync",
    ]);
    await etcd.waitUntil("healthy", 30_000, async () => (await sh("curl", ["-sf", `${etcdUrl}/health`], t.UNDERLAY_NS)).includes("true"));
    const apiserver = cp("kube-apiserver", [
      bins.apiserver,
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=0.0.0.0",
      `--advertise-address=${t.APISERVER_IP}`,
      `--secure-port=${t.APISERVER_PORT}`,
      `--cert-dir=${f("apiserver-certs")}`,
      `--tls-cert-file=${f("apiserver.pem")}`,
      `--tls-private-key-file=${f("apiserver-key.pem")}`,
      `--client-ca-file=${f("ca.pem")}`,
      `--token-auth-file=${f("tokens.csv")}`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      `--service-account-issuer=https://kubernetes.default.svc.${t.CLUSTER_DOMAIN}`,
      `--service-account-key-file=${f("sa-pub.pem")}`,
      `--service-account-signing-key-file=${f("sa-key.pem")}`,
      `--service-cluster-ip-range=${t.SERVICE_CIDR}`,
      "--allow-privileged=true",
      "--kubelet-preferred-address-types=InternalIP",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      "--v=1",
    ]);
    // The relays: wtb-net's apiserver as a unix socket, and that socket on 127.0.0.1 here.
    const relayJs = path.join(__dirname, "relay.js");
    const sock = path.join(t.RUN_ROOT, "apiserver.sock");
    cp("relay-inner", [process.execPath, relayJs, "listen-unix", sock, "connect-tcp", `${t.APISERVER_IP}:${t.APISERVER_PORT}`]);
    const outer = new Daemon({
      name: "relay-host",
      argv: [
        process.execPath,
        relayJs,
        "listen-tcp",
        `${t.HOST_API_ADDRESS}:${t.HOST_API_PORT}`,
        "connect-unix",
        sock,
        "--pid-file",
        RELAY_PID_FILE,
      ],
      log: f("relay-host.log"),
    }).start();
    daemons.push(outer);
    const kubectl = async (args: readonly string[], input?: string): Promise<string> => {
      const p = execFileP(bins.kubectl, [`--kubeconfig=${kubeconfigPath}`, ...args], { maxBuffer: 64 << 20 });
      if (input !== undefined) {
        p.child.stdin!.end(input);
      }
      try {
        return (await p).stdout;
      } catch (e) {
        const err = e as Error & { stderr?: string };
        throw new Error(`kubectl ${args.join(" ")}: ${err.stderr?.trim() || err.message}`, { cause: e });
      }
    };
    await apiserver.waitUntil("ready", 90_000, async () => (await kubectl(["get", "--raw", "/readyz"])).trim() === "ok");
    log(`control plane up (${Date.now() - t0} ms)`);
    cp("kube-controller-manager", [
      bins.controllerManager,
      `--kubeconfig=${f("controller-manager.kubeconfig")}`,
      `--service-account-private-key-file=${f("sa-key.pem")}`,
      `--root-ca-file=${f("ca.pem")}`,
      "--use-service-account-credentials=true",
      `--service-cluster-ip-range=${t.SERVICE_CIDR}`,
      `--cluster-cidr=${t.CLUSTER_CIDR}`,
      // Not the host's /usr/libexec/kubernetes (the control plane has no private mount namespace).
      `--flex-volume-plugin-dir=${f("flexvolume")}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      "--profiling=false",
      "--v=1",
    ]);
    // Cluster DNS (cluster-dns.ts, the test bed's CoreDNS stand-in) behind kube-system/kube-dns.
    writeFileSync(f("cluster-dns.token"), users.find(([n]) => n === "cluster-dns")![1], { mode: 0o600 });
    await kubectl(["create", "clusterrolebinding", "weft-testbed:cluster-dns", "--clusterrole=view", "--user=weft-testbed:cluster-dns"]);
    await kubectl(["apply", "-f", "-"], t.clusterDnsObjects());
    const dns = cp("cluster-dns", [
      process.execPath,
      path.join(__dirname, "cluster-dns.js"),
      "--listen",
      t.CLUSTER_DNS_SERVER,
      "--server",
      inner,
      "--ca",
      f("ca.pem"),
      "--token-file",
      f("cluster-dns.token"),
      "--domain",
      t.CLUSTER_DOMAIN,
    ]);
    await dns.waitUntil(
      "serving",
      30_000,
      async () =>
        (
          await sh(
            "dig",
            ["+short", "+time=1", "+tries=1", `@${t.CLUSTER_DNS_SERVER}`, `kubernetes.default.svc.${t.CLUSTER_DOMAIN}`],
            t.UNDERLAY_NS,
          )
        ).trim() === t.KUBERNETES_SERVICE_IP,
    );
    cp("kube-scheduler", [
      bins.scheduler,
      `--kubeconfig=${f("scheduler.kubeconfig")}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      "--profiling=false",
      "--v=1",
    ]);

    // Nodes.
    for (const n of nodes) await startNode(n, bins, images, f, daemons, kubelets, opts.podNetwork ?? "bridge");
    const ready = async (): Promise<true | undefined> => {
      const list = JSON.parse(await kubectl(["get", "nodes", "-o", "json"])) as {
        items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
      };
      const ok = nodes.every((n) =>
        list.items.some((i) => i.metadata.name === n.name && i.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
      );
      return ok ? true : undefined;
    };
    await eventually("every test bed Node Ready", 120_000, ready);
    for (const n of nodes)
      await kubectl(["patch", "node", n.name, "-p", JSON.stringify({ spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] } })]);
    await eventually("ServiceAccount default/default", 60_000, async () =>
      (await kubectl(["get", "sa", "default", "-o", "name"])).trim() ? true : undefined,
    );
    log(`${nodes.length} node(s) Ready (${Date.now() - t0} ms)`);

    const nodeByName = (name: string): t.NodeLayout => {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`test bed: no node "${name}" (have ${nodes.map((x) => x.name).join(", ")})`);
      return n;
    };
    const exec = async (node: string, argv: readonly string[]): Promise<string> => {
      const n = nodeByName(node);
      return sh("nsenter", [`--net=/run/netns/${n.netns}`, `--mount=${n.mountNs}`, "--", ...argv]);
    };
    return {
      nodes,
      images,
      kubeconfigPath,
      innerKubeconfigPath,
      bins,
      kubectl,
      kubectlJson: async <T>(args: readonly string[]) => JSON.parse(await kubectl([...args, "-o", "json"])) as T,
      exec,
      ctr: (node, args) => exec(node, ["ctr", "--address", t.NODE_CONTAINERD_SOCK, "-n", "k8s.io", ...args]),
      async restartKubelet(node) {
        const d = kubelets.get(nodeByName(node).name)!;
        await d.stop();
        d.start();
        await d.waitUntil("healthy", 60_000, async () => (await exec(node, ["curl", "-sf", "http://127.0.0.1:10248/healthz"])) === "ok");
      },
      diagnostics: () =>
        daemons.map((d) => `--- ${d.spec.name} (${d.exited ? "exited" : "running"}): ${d.spec.log}\n${readTail(d.spec.log)}`).join("\n"),
      stop,
    };
  } catch (e) {
    const diag = daemons.map((d) => `--- ${d.spec.name}\n${readTail(d.spec.log, 8)}`).join("\n");
    await stop().catch(() => undefined);
    throw new Error(`test bed start failed: ${(e as Error).message}\n${diag}`, { cause: e });
  }
}

function readTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function startNode(
  n: t.NodeLayout,
  bins: NodeBinaries & KubeBinaries,
  images: readonly TestbedImage[],
  f: (name: string) => string,
  daemons: Daemon[],
  kubelets: Map<string, Daemon>,
  podNetwork: t.PodNetwork,
): Promise<void> {
  const s = (...p: string[]): string => path.join(n.stateDir, ...p);
  for (const d of [
    "kubelet",
    "containerd",
    "cni",
    "cni-ipam",
    "log",
    "libexec-kubernetes",
    "etc-cni/net.d",
    "opt-cni/bin",
    "opt-weft",
    "sysctl",
  ])
    mkdirSync(s(d), { recursive: true });
  mkdirSync(path.join(n.runDir, "stage"), { recursive: true });
  for (const p of t.CNI_PLUGINS) copyFileSync(path.join(t.DEBIAN_CNI_DIR, p), s("opt-cni/bin", p));
  writeFileSync(s("etc-cni/net.d/10-wtb-bridge.conflist"), t.podNetworkConflist(n, podNetwork));
  const sysctls = Object.entries(t.KUBELET_SYSCTLS).map(([key, value]) => {
    const file = s("sysctl", key.replace(/\//g, "."));
    writeFileSync(file, `${value}\n`);
    return { key, file };
  });
  // cgroups: the node's parent in every hierarchy (cpuset needs its cpus and mems filled in).
  for (const h of ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"]) {
    if (existsSync(`/sys/fs/cgroup/${h}`)) mkdirSync(`/sys/fs/cgroup/${h}${n.cgroupRoot}`, { recursive: true });
  }
  for (const file of ["cpuset.cpus", "cpuset.mems"]) {
    if (existsSync(`/sys/fs/cgroup/cpuset/${file}`))
      writeFileSync(`/sys/fs/cgroup/cpuset${n.cgroupRoot}/${file}`, readFileSync(`/sys/fs/cgroup/cpuset/${file}`));
  }
  const script = nodeMountScript(
    {
      privatePaths: [
        { target: "/var/lib/kubelet", backing: s("kubelet") },
        { target: "/var/lib/containerd", backing: s("containerd") },
        { target: "/var/lib/cni", backing: s("cni") },
        { target: "/var/log", backing: s("log") },
        { target: "/usr/libexec/kubernetes", backing: s("libexec-kubernetes") },
        { target: "/etc/cni", backing: s("etc-cni") },
        { target: "/opt/cni", backing: s("opt-cni") },
        // weft's CNI agent copies its runtime there (deploy/weft.yaml hostPath).
        { target: "/opt/weft", backing: s("opt-weft") },
      ],
      sysctls,
      stageDir: path.join(n.runDir, "stage"),
      fresh: [
        { fstype: "tmpfs", target: "/run" },
        { fstype: "bpf", target: "/sys/fs/bpf" },
      ],
    },
    existsSync,
  );
  writeFileSync(n.mountNs, "");
  await sh("nsenter", [
    `--net=/run/netns/${n.netns}`,
    "--",
    "unshare",
    `--mount=${n.mountNs}`,
    "--propagation",
    "private",
    "sh",
    "-c",
    script,
  ]);
  const exec = (argv: string[], timeoutMs?: number): Promise<string> =>
    sh("nsenter", [`--net=/run/netns/${n.netns}`, `--mount=${n.mountNs}`, "--", ...argv], undefined, timeoutMs);
  const start = (name: string, argv: string[]): Daemon => {
    const d = new Daemon({ name: `${n.name}/${name}`, argv, netns: n.netns, mountNs: n.mountNs, log: f(`${n.name}-${name}.log`) }).start();
    daemons.push(d);
    return d;
  };
  writeFileSync(s("containerd.toml"), t.containerdConfig(n, images.find((i) => i.name === "pause")!.ref));
  const containerd = start("containerd", ["containerd", "--config", s("containerd.toml")]);
  const ctr = ["ctr", "--address", t.NODE_CONTAINERD_SOCK, "-n", "k8s.io"];
  await containerd.waitUntil("serving", 30_000, async () => (await exec([...ctr, "version"])).includes("Server"));
  // The weft image is ~60 MB: unpacking it took more than exec's default 15 s on a loaded CI machine.
  for (const img of images) await exec([...ctr, "images", "import", img.file], 180_000);
  writeFileSync(s("kubelet.yaml"), t.kubeletConfig(n));
  const kubelet = start("kubelet", [
    bins.kubelet,
    `--config=${s("kubelet.yaml")}`,
    `--kubeconfig=${f(`${n.name}.kubeconfig`)}`,
    `--hostname-override=${n.name}`,
    `--node-ip=${n.ip}`,
    "--v=1",
  ]);
  kubelets.set(n.name, kubelet);
  writeFileSync(s("kube-proxy.yaml"), t.kubeProxyConfig(n, f("kube-proxy.kubeconfig")));
  start("kube-proxy", [bins.proxy, `--config=${s("kube-proxy.yaml")}`, "--v=1"]);
}
