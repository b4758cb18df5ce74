/**
 * The one place that loads @kubernetes/client-node, on first use.
 *
 * Why lazily: the library (ESM, with every generated API model, undici, openid-client, ws...)
 * costs about 0.5-1 s and 70-90 MB of RSS to load. `src/cli/main.ts` imports every command
 * statically, so a top-level import anywhere under src/kube/client would make `weft ztunnel` and
 * `weft waypoint` pay for it. Other modules import the library's *types* only
 * (`import type`, erased at build time) and call `clientNode()` when they talk to an API server.
 * Node 24 loads the ESM package synchronously through `require` (it has no top-level await), so
 * config loading stays synchronous and fails at start-up, naming the file.
 */
import { createRequire } from "node:module";
import type * as k8s from "@kubernetes/client-node";

export type ClientNode = typeof k8s;

let loaded: ClientNode | undefined;

export function clientNode(): ClientNode {
  loaded ??= createRequire(__filename)("@kubernetes/client-node") as ClientNode;
  return loaded;
}

/** Whether the library has been loaded in this process (tests check that data-plane paths never do). */
export function clientNodeLoaded(): boolean {
  return loaded !== undefined;
}
