/**
 * A local loopback port forwarded to a pod's port through the API server, like `kubectl
 * port-forward` and istioctl: the pods/portforward subresource over a websocket
 * (@kubernetes/client-node's `PortForward`, with the library's authentication and TLS).
 *
 * It reaches ports a pod listens on only on its loopback (ztunnel's admin 15000), which the
 * pods/proxy subresource cannot. The listener is `127.0.0.1:0` (an ephemeral port); every TCP
 * connection accepted opens its own websocket (one stream pair), so plain HTTP clients can use
 * `http://127.0.0.1:<port>` unchanged. What failed on the way (the websocket refused, e.g. 403 or
 * 404; the kubelet's error stream, e.g. nothing listening on the port) is kept for messages.
 */
import net from "node:net";
import { Writable } from "node:stream";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import type { KubeClientConfig } from "./kube-config.js";
import { causeChain } from "./kube-api.js";
import { clientNode } from "./kube-lib.js";

export interface PodPortForward {
  /** The local port on 127.0.0.1. */
  readonly port: number;
  /** `pod NS/NAME port P`, for messages. */
  readonly target: string;
  /** The last failure of a forwarded connection, if any. */
  lastError(): string | undefined;
  /** Stops listening and ends every forwarded connection. */
  close(): Promise<void>;
}

interface Closable {
  on?(event: "close", fn: () => void): void;
  close?(): void;
}

/** The message of a websocket failure (`ws` gives an ErrorEvent with `message` or `error`). */
function wsMessage(e: unknown): string {
  const x = e as { message?: unknown; error?: unknown };
  if (x?.error instanceof Error) return causeChain(x.error);
  if (typeof x?.message === "string" && x.message) return x.message;
  return causeChain(e);
}

/**
 * Pure: what the API server's refusal of the upgrade means (`ws` reports only the status:
 * `Unexpected server response: 403`); other failures as they are.
 */
export function refusalMeaning(message: string, namespace: string, pod: string): string {
  const status = Number(/^Unexpected server response: (\d{3})$/.exec(message)?.[1]);
  if (!status) return message;
  if (status === 401) return "unauthorized (HTTP 401): the API server did not accept the kubeconfig's credentials";
  if (status === 403) return `forbidden (HTTP 403): RBAC must let the user create pods/portforward in ${namespace}`;
  if (status === 404) return `pod ${namespace}/${pod} not found (HTTP 404)`;
  if (status === 400) return `refused (HTTP 400): is pod ${namespace}/${pod} Running?`;
  if (status >= 500) return `the API server could not reach the pod's node (HTTP ${status}): is its kubelet up and reachable?`;
  return message;
}

export async function forwardPodPort(
  config: KubeClientConfig,
  namespace: string,
  pod: string,
  podPort: number,
): Promise<Result<PodPortForward, Error>> {
  const target = `pod ${namespace}/${pod} port ${podPort}`;
  const forward = new (clientNode().PortForward)(config, true);
  let last: string | undefined;
  const open = new Set<net.Socket>();
  const sockets = new Set<Closable>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.on("error", () => undefined);
    sock.on("close", () => open.delete(sock));
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        const text = chunk.toString("utf8").trim();
        if (text) last = `port-forward to ${target}: ${text.split("\n")[0]}`;
        done();
      },
    });
    forward.portForward(namespace, pod, [podPort], sock, errors, sock).then(
      (ws) => {
        const w = ws as unknown as Closable;
        sockets.add(w);
        // The library does not end the output when the pod's side closes: end the client's socket.
        w.on?.("close", () => {
          sockets.delete(w);
          sock.end();
        });
      },
      (e: unknown) => {
        const why = refusalMeaning(wsMessage(e), namespace, pod);
        last = `port-forward to ${target} through ${config.getCurrentCluster()?.server ?? "the API server"}: ${why}`;
        sock.destroy();
      },
    );
  });
  const listening = await new Promise<Result<number, Error>>((resolve) => {
    server.once("error", (e) => resolve(err(new Error(`port-forward to ${target}: listen on 127.0.0.1: ${e.message}`))));
    server.listen(0, "127.0.0.1", () => resolve(ok((server.address() as net.AddressInfo).port)));
  });
  if (!listening.ok) return listening;
  return ok({
    port: listening.value,
    target,
    lastError: () => last,
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of sockets) w.close?.();
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  });
}
