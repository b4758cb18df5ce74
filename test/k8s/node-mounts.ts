/**
 * A test bed node's private filesystem view, as the shell script that sets up its persistent
 * mount namespace (pure; testbed.ts runs it under `nsenter --net unshare --mount=FILE`).
 *
 * Inside a node the usual paths hold (/var/lib/kubelet, /var/lib/containerd, /var/lib/cni,
 * /etc/cni/net.d, /opt/cni/bin, /var/log, /run), each backed by the node's own directory under
 * /var/lib/weft-testbed/<node>/, so kubelet, containerd, the CNI plugins and any DaemonSet's
 * hostPath see the node's files, never the host's, and nothing is created on the host: where a
 * path does not exist on the host, its parent is "grafted": a tmpfs that holds bind mounts of
 * every host entry of the parent plus the node's own entries, moved over the parent.
 *
 * A fresh bpffs on /sys/fs/bpf gives each node its own BPF pin root (weft's CNI agent pins its
 * programs there), and a fresh tmpfs on /run its own runtime directory (/var/run/netns, the
 * containerd socket, /run/weft).
 *
 * Everything is then made shared within the node (like a systemd host's "/"), so pods may use
 * mountPropagation; the host is never a peer (the namespace started private).
 *
 * Everything is then made shared within the node (like a systemd host's "/"), so pods may use
 * mountPropagation; the host is never a peer (the namespace started private).
 *
 * The kernel tunables kubelet wants to write (kernel.panic, vm.overcommit_memory, ...) are
 * masked by bind mounts of the node's own files over /proc/sys/..., so a kubelet never changes
 * the host's kernel settings.
 */
import path from "node:path";

export interface PrivatePath {
  /** Path inside the node. */
  readonly target: string;
  /** Host directory (or file) that backs it. */
  readonly backing: string;
}

export interface MountPlanInput {
  readonly privatePaths: readonly PrivatePath[];
  /** /proc/sys/<key> -> host file holding the value the node sees. */
  readonly sysctls: readonly { readonly key: string; readonly file: string }[];
  /** Empty host directory used as the graft staging mount point. */
  readonly stageDir: string;
  /** Fresh file systems of the node's own, mounted last: tmpfs on /run, a bpffs on /sys/fs/bpf. */
  readonly fresh: readonly { readonly fstype: "tmpfs" | "bpf"; readonly target: string }[];
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The script. `exists(path)` says whether a path exists on the host (asked at plan time; the
 * script re-checks nothing). Paths whose target exists are bound directly; the others are
 * grouped by their nearest existing ancestor, which is grafted once.
 */
export function nodeMountScript(input: MountPlanInput, exists: (p: string) => boolean): string {
  const lines = ["set -eu"];
  for (const s of input.sysctls) lines.push(`mount --bind ${q(s.file)} ${q(path.join("/proc/sys", s.key))}`);
  const direct = input.privatePaths.filter((p) => exists(p.target));
  const grafted = new Map<string, { name: string; backing: string }[]>();
  for (const p of input.privatePaths.filter((x) => !exists(x.target))) {
    let child = p.target;
    let parent = path.dirname(child);
    while (!exists(parent)) {
      child = parent;
      parent = path.dirname(parent);
    }
    if (child !== p.target)
      throw new Error(`node mount ${p.target}: ${path.dirname(p.target)} does not exist on the host either; back ${child} instead`);
    const list = grafted.get(parent) ?? [];
    list.push({ name: path.basename(p.target), backing: p.backing });
    grafted.set(parent, list);
  }
  for (const [parent, own] of [...grafted].sort(([a], [b]) => a.localeCompare(b))) {
    const st = input.stageDir;
    const skip = own.map((o) => `[ "$n" = ${q(o.name)} ] && continue`).join("; ");
    lines.push(
      `mount -t tmpfs -o mode=0755 wtb-graft ${q(st)}`,
      `for e in ${q(parent)}/* ${q(parent)}/.[!.]*; do`,
      `  [ -e "$e" ] || [ -L "$e" ] || continue; n=\${e##*/}; ${skip}`,
      `  if [ -L "$e" ]; then cp -P "$e" ${q(st)}/"$n"`,
      `  elif [ -d "$e" ]; then mkdir ${q(st)}/"$n"; mount --rbind "$e" ${q(st)}/"$n"`,
      `  else touch ${q(st)}/"$n"; mount --bind "$e" ${q(st)}/"$n"; fi`,
      "done",
      ...own.map((o) => `mkdir ${q(path.join(st, o.name))}; mount --bind ${q(o.backing)} ${q(path.join(st, o.name))}`),
      `mount --move ${q(st)} ${q(parent)}`,
    );
  }
  // Direct binds last: a target below a grafted parent is then bound on the graft's view.
  for (const p of direct) lines.push(`mount --bind ${q(p.backing)} ${q(p.target)}`);
  // Last: the stage directory and the backings may live below these.
  for (const m of input.fresh)
    lines.push(`mount -t ${m.fstype} ${m.fstype === "tmpfs" ? "-o mode=0755 " : ""}wtb-${m.fstype} ${q(m.target)}`);
  // Shared inside the node, as on a systemd host: volumes with mountPropagation (HostToContainer,
  // Bidirectional) need it. The namespace was made private first, so the host is never a peer.
  lines.push("mount --make-rshared /");
  return lines.join("\n") + "\n";
}
