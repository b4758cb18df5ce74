/**
 * The Kubernetes test bed by hand: `node dist/test/k8s/testbed-cli.js up [--nodes N]` starts it,
 * prints how to reach it and keeps it running until Ctrl-C (or SIGTERM), then tears it down;
 * `down` removes what a crashed or killed run left. Root only; take /tmp/weft-testbed.lock
 * (flock /tmp/weft-testbed.lock node dist/test/k8s/testbed-cli.js up).
 */
import { reapTestbed } from "./reap.js";
import { startTestbed, testbedSkipReason } from "./testbed.js";

async function main(): Promise<void> {
  const [cmd] = process.argv.slice(2);
  if (cmd === "down") {
    const found = await reapTestbed();
    console.log(found.length > 0 ? `removed: ${found.join(", ")}` : "nothing to remove");
    return;
  }
  if (cmd !== "up") throw new Error("usage: testbed-cli.js up [--nodes 1|2] [--ptp] | down");
  const skip = testbedSkipReason();
  if (skip) throw new Error(`test bed cannot run here: ${skip}`);
  const i = process.argv.indexOf("--nodes");
  const ptp = process.argv.includes("--ptp");
  const tb = await startTestbed({ nodes: i > 0 ? Number(process.argv[i + 1]) : 2, ...(ptp ? { podNetwork: "ptp" as const } : {}) });
  console.log(`kubeconfig (this namespace): ${tb.kubeconfigPath}`);
  console.log(`kubeconfig (inside wtb-net):  ${tb.innerKubeconfigPath}`);
  console.log(`kubectl:                     ${tb.bins.kubectl} --kubeconfig=${tb.kubeconfigPath} get nodes`);
  for (const n of tb.nodes)
    console.log(`node ${n.name}: ${n.ip}, pods ${n.podCidr}; shell: nsenter --net=/run/netns/${n.netns} --mount=${n.mountNs} bash`);
  console.log("running; Ctrl-C tears it down");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await tb.stop();
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
