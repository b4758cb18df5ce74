/**
 * `weft waypoint apply|list|delete|status`, like `istioctl waypoint`: writes or removes a
 * Gateway of class istio-waypoint, lists them, and reports whether each is served. Where:
 * - the running local cluster's config folder (default; `--dir STATE`),
 * - a folder of YAML (`--config-dir DIR`: the file `waypoint-<ns>-<name>.yaml`),
 * - a Kubernetes API server (`--kubeconfig FILE [--context NAME]`).
 * In the local cluster `--enroll-namespace` also labels the namespace istio.io/use-waypoint.
 */
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { type Command, Option } from "commander";
import { stringify as toYaml } from "yaml";
import type { KubeObject } from "../kube/object.js";
import { parseConfigText, isConfigFileName } from "../kube/folder/yaml-documents.js";
import { kubeApi } from "../kube/client/kube-api.js";
import { loadKubeconfig } from "../kube/client/kube-config.js";
import { labelNamespace } from "../local/cluster.js";
import { CliError, EXIT_OK, EXIT_USAGE, action, examples, namespaceOptions, outputFormat, outputOption, subcommand } from "./command.js";
import { type Column, render } from "./output.js";
import { controlPlaneEndpoint, httpGetJson, localDir } from "./targets.js";
import {
  DEFAULT_WAYPOINT_FOR,
  DEFAULT_WAYPOINT_NAME,
  WAYPOINT_FOR,
  isWaypoint,
  isWaypointProxy,
  waypointFor,
  waypointGateway,
} from "./waypoint-gateway.js";
import { WAYPOINT_ADMIN_VERBS } from "./waypoint-verbs.js";

export { WAYPOINT_ADMIN_VERBS };
export const DEFAULT_NAMESPACE = "default";
const GATEWAYS = "/apis/gateway.networking.k8s.io/v1";

interface Options {
  dir?: string;
  configDir?: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  name?: string;
  for?: string;
  enrollNamespace?: boolean;
  output?: string;
}

interface Located {
  object: KubeObject;
  where: string;
}

/** One place Gateways live. */
interface GatewayStore {
  readonly describe: string;
  list(namespace?: string): Promise<Located[]>;
  apply(gw: KubeObject): Promise<string>;
  remove(namespace: string, name: string): Promise<string>;
}

function folderStore(dir: string, describe: string): GatewayStore {
  const file = (ns: string, name: string) => path.join(dir, `waypoint-${ns}-${name}.yaml`);
  const list = async (namespace?: string): Promise<Located[]> => {
    const out: Located[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of (await readdir(d).catch(() => [])).sort()) {
        const p = path.join(d, e);
        if ((await stat(p)).isDirectory()) await walk(p);
        else if (isConfigFileName(e)) {
          const docs = parseConfigText(await readFile(p, "utf8"));
          if (!docs.ok) continue; // `weft analyze` reports it
          for (const d of docs.value) {
            const o = d.value as KubeObject;
            if (
              o &&
              typeof o === "object" &&
              o.metadata &&
              isWaypoint(o) &&
              (!namespace || (o.metadata.namespace ?? "default") === namespace)
            )
              out.push({ object: o, where: `${p}:${d.line}` });
          }
        }
      }
    };
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new CliError(`${dir}: no such folder`);
    await walk(dir);
    return out;
  };
  return {
    describe,
    list,
    async apply(gw) {
      const f = file(gw.metadata.namespace!, gw.metadata.name);
      const existing = (await list(gw.metadata.namespace)).find((x) => x.object.metadata.name === gw.metadata.name);
      if (existing && !existing.where.startsWith(`${f}:`))
        throw new CliError(`waypoint ${gw.metadata.namespace}/${gw.metadata.name} is already defined at ${existing.where}; edit it there`);
      await mkdir(dir, { recursive: true });
      await writeFile(`${f}.tmp`, toYaml(gw));
      await rename(`${f}.tmp`, f);
      return f;
    },
    async remove(ns, name) {
      const existing = (await list(ns)).find((x) => x.object.metadata.name === name);
      if (!existing) throw new CliError(`no waypoint ${ns}/${name} in ${describe}`);
      if (!existing.where.startsWith(`${file(ns, name)}:`))
        throw new CliError(`waypoint ${ns}/${name} is defined at ${existing.where}, not written by weft waypoint apply; remove it there`);
      await unlink(file(ns, name));
      return file(ns, name);
    },
  };
}

function kubeStore(kubeconfig: string, context?: string): GatewayStore {
  const cfg = loadKubeconfig(kubeconfig, context);
  if (!cfg.ok) throw new CliError(`--kubeconfig ${kubeconfig}: ${cfg.error.message}`, EXIT_USAGE);
  const c = kubeApi(cfg.value);
  const describe = `the Kubernetes API at ${c.server}`;
  const one = (ns: string, name?: string) => `${GATEWAYS}/namespaces/${ns}/gateways${name ? `/${name}` : ""}`;
  return {
    describe,
    async list(namespace) {
      const r = await c.request<{ items: KubeObject[] }>("GET", namespace ? one(namespace) : `${GATEWAYS}/gateways`);
      if (!r.ok) throw new CliError(r.error.message);
      return r.value.items.filter(isWaypoint).map((object) => ({ object, where: describe }));
    },
    async apply(gw) {
      const ns = gw.metadata.namespace!;
      const created = await c.request("POST", one(ns), gw);
      if (created.ok) return `${describe} (created)`;
      if (created.error.httpStatus !== 409) throw new CliError(created.error.message);
      const cur = await c.request<KubeObject>("GET", one(ns, gw.metadata.name));
      if (!cur.ok) throw new CliError(cur.error.message);
      const put = await c.request("PUT", one(ns, gw.metadata.name), {
        ...gw,
        metadata: { ...gw.metadata, resourceVersion: cur.value.metadata.resourceVersion },
      });
      if (!put.ok) throw new CliError(put.error.message);
      return `${describe} (updated)`;
    },
    async remove(ns, name) {
      const r = await c.request("DELETE", one(ns, name));
      if (!r.ok) throw new CliError(r.error.httpStatus === 404 ? `no waypoint ${ns}/${name} in ${describe}` : r.error.message);
      return describe;
    },
  };
}

function storeFor(o: Options): GatewayStore {
  const modes = [o.configDir, o.kubeconfig, o.dir].filter((x) => x !== undefined).length;
  if (modes > 1) throw new CliError("--dir, --config-dir and --kubeconfig are exclusive", EXIT_USAGE);
  if (o.context && !o.kubeconfig) throw new CliError("--context needs --kubeconfig", EXIT_USAGE);
  if (o.kubeconfig) return kubeStore(o.kubeconfig, o.context);
  if (o.configDir) return folderStore(path.resolve(o.configDir), o.configDir);
  const dir = path.join(localDir(o), "config");
  return folderStore(dir, `the local cluster's config (${dir})`);
}

function whereOptions(cmd: Command): Command {
  return cmd
    .option("--dir <state>", "local cluster state folder (the default target; env WEFT_LOCAL_DIR, default /run/weft-local)")
    .option("--config-dir <dir>", "a folder of YAML instead (what weft controlplane --config-dir reads)")
    .option("--kubeconfig <file>", "a Kubernetes API server instead")
    .option("--context <name>", "kubeconfig context (default: its current-context)");
}

const key = (o: KubeObject) => `${o.metadata.namespace ?? "default"}/${o.metadata.name}`;

export function registerWaypointAdmin(program: Command): void {
  const wp = subcommand(
    program,
    "waypoint",
    "waypoints: apply|list|delete|status (operator verbs) or, with proxy flags, run a waypoint proxy",
  );
  wp.addHelpText(
    "after",
    "\nWith flags instead of a verb (weft waypoint --name GW --namespace NS --xds-address ...), runs the waypoint proxy process.\n",
  );

  const apply = subcommand(wp, "apply", "create or update a waypoint Gateway (class istio-waypoint)")
    .option("--name <name>", "waypoint name", DEFAULT_WAYPOINT_NAME)
    .option("-n, --namespace <ns>", "namespace", DEFAULT_NAMESPACE)
    .addOption(
      new Option("--for <traffic>", "traffic the waypoint takes (istio.io/waypoint-for)")
        .choices([...WAYPOINT_FOR])
        .default(DEFAULT_WAYPOINT_FOR),
    )
    .option("--enroll-namespace", "label the namespace istio.io/use-waypoint=<name> (local cluster)");
  whereOptions(apply);
  examples(apply, [
    "sudo weft waypoint apply -n demo --enroll-namespace",
    "weft waypoint apply -n demo --name reviews-wp --for all --config-dir ./mesh",
    "weft waypoint apply -n demo --kubeconfig ~/.kube/config",
  ]);
  action(apply, async (o: Options) => {
    const store = storeFor(o);
    const ns = o.namespace ?? DEFAULT_NAMESPACE;
    const name = o.name ?? DEFAULT_WAYPOINT_NAME;
    if (o.enrollNamespace && (o.configDir || o.kubeconfig))
      throw new CliError("--enroll-namespace works on the local cluster only (label the Namespace yourself)", EXIT_USAGE);
    const where = await store.apply(waypointGateway(ns, name, o.for ?? DEFAULT_WAYPOINT_FOR));
    process.stdout.write(`waypoint ${ns}/${name} applied: ${where}\n`);
    if (o.enrollNamespace) {
      const r = await labelNamespace(localDir(o), ns, [`istio.io/use-waypoint=${name}`]);
      if (!r.ok) throw new CliError(r.error.message);
      process.stdout.write(`namespace ${ns} labeled with "istio.io/use-waypoint: ${name}"\n`);
    }
    return EXIT_OK;
  });

  const list = subcommand(wp, "list", "list waypoint Gateways");
  namespaceOptions(list, true);
  outputOption(list);
  whereOptions(list);
  examples(list, ["sudo weft waypoint list -A", "weft waypoint list -n demo --config-dir ./mesh -o yaml"]);
  const columns: Column<Located>[] = [
    { header: "NAMESPACE", value: (x) => x.object.metadata.namespace ?? "default" },
    { header: "NAME", value: (x) => x.object.metadata.name },
    { header: "FOR", value: (x) => waypointFor(x.object) },
    { header: "DEFINED AT", value: (x) => x.where, wide: true },
  ];
  action(list, async (o: Options) => {
    const found = await storeFor(o).list(o.allNamespaces ? undefined : o.namespace);
    process.stdout.write(
      render(
        outputFormat(o),
        found,
        columns,
        found.map((x) => x.object),
      ),
    );
    return EXIT_OK;
  });

  const del = subcommand(wp, "delete", "delete a waypoint Gateway")
    .argument("[names...]", "waypoint names", [DEFAULT_WAYPOINT_NAME])
    .option("-n, --namespace <ns>", "namespace", DEFAULT_NAMESPACE);
  whereOptions(del);
  examples(del, ["sudo weft waypoint delete -n demo", "weft waypoint delete reviews-wp -n demo --config-dir ./mesh"]);
  action(del, async (o: Options) => {
    const store = storeFor(o);
    const ns = o.namespace ?? DEFAULT_NAMESPACE;
    for (const name of del.args.length ? del.args : [DEFAULT_WAYPOINT_NAME])
      process.stdout.write(`waypoint ${ns}/${name} deleted: ${await store.remove(ns, name)}\n`);
    return EXIT_OK;
  });

  const st = subcommand(wp, "status", "is each waypoint served: its proxies connected to the control plane");
  namespaceOptions(st, true);
  outputOption(st);
  whereOptions(st).option("--controlplane <host:port>", "control plane monitoring address (default: the local cluster's)");
  examples(st, ["sudo weft waypoint status -n demo", "weft waypoint status --config-dir ./mesh --controlplane 127.0.0.1:15014"]);
  action(st, async (o: Options & { controlplane?: string }) => {
    const found = await storeFor(o).list(o.allNamespaces ? undefined : o.namespace);
    let clients: Array<{ id: string; types: Record<string, { lastAck?: unknown }> }> | undefined;
    let reason = "";
    if (!o.kubeconfig || o.controlplane) {
      const cp = await controlPlaneEndpoint({
        ...(o.dir ? { dir: o.dir } : {}),
        ...(o.controlplane ? { controlplane: o.controlplane } : {}),
      }).catch((e: Error) => ((reason = e.message), undefined));
      const adsz = cp ? await httpGetJson<{ clients: typeof clients }>(cp, "/debug/adsz") : undefined;
      if (adsz?.ok) clients = adsz.value.clients;
      else if (adsz) reason = adsz.error.message;
    }
    const rows = found.map((x) => {
      const ns = x.object.metadata.namespace ?? "default";
      const proxies = (clients ?? []).filter((c) => isWaypointProxy(c.id.replace(/\/conn-\d+$/, ""), ns, x.object.metadata.name));
      const synced = proxies.filter((p) => Object.values(p.types).some((t) => t.lastAck)).length;
      const conditions =
        (x.object as unknown as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions ?? [];
      const programmed = conditions.find((c) => c.type === "Programmed")?.status;
      const status = clients
        ? proxies.length
          ? `Programmed (${synced}/${proxies.length} proxies synced)`
          : "NotServed (no waypoint proxy connected)"
        : programmed
          ? `Programmed=${programmed}`
          : `unknown${reason ? ` (${reason})` : ""}`;
      return {
        namespace: ns,
        name: x.object.metadata.name,
        for: waypointFor(x.object),
        status,
        proxies: proxies.map((p) => p.id),
        key: key(x.object),
      };
    });
    process.stdout.write(
      render(outputFormat(o), rows, [
        { header: "NAMESPACE", value: (r) => r.namespace },
        { header: "NAME", value: (r) => r.name },
        { header: "FOR", value: (r) => r.for },
        { header: "STATUS", value: (r) => r.status },
        { header: "PROXIES", value: (r) => r.proxies.join(","), wide: true },
      ]),
    );
    return EXIT_OK;
  });
}
