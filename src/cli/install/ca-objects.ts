/**
 * The mesh CA in the cluster: the Secret `cacerts` (Istio's plugged-in CA layout: ca-cert.pem,
 * ca-key.pem, root-cert.pem, cert-chain.pem), which the control plane mounts as its --ca-dir,
 * and the ConfigMap `istio-ca-root-cert` (key root-cert.pem, istiod's name) from which ztunnel
 * reads the root that verifies the control plane. `weft install` creates a self-signed root
 * when the Secret is missing and never replaces an existing one (a user's plugged-in CA, or the
 * root of an earlier install that workloads already trust).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { CertificateAuthority } from "../../ca/ca.js";
import { CACERTS_FILES } from "../../ca/store.js";
import { type Result, ok, err } from "../../common/result.js";
import type { KubeObject } from "../../kube/apply/apply.js";
import { CA_SECRET, ROOT_CONFIGMAP } from "./manifests.js";
import { labels } from "./manifest.js";

/** A new self-signed root in the cacerts layout, as a Secret (data base64). */
export async function newCaSecret(namespace: string, trustDomain: string): Promise<Result<KubeObject>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "weft-install-ca-"));
  try {
    const ca = await CertificateAuthority.loadOrCreateSelfSigned(dir, { trustDomain });
    if (!ca.ok) return err(new Error(`mesh CA: ${ca.error.message}`));
    const data: Record<string, string> = {};
    for (const f of Object.values(CACERTS_FILES)) data[f] = (await readFile(path.join(dir, f))).toString("base64");
    return ok({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: CA_SECRET, namespace, labels: labels("controlplane") },
      type: "Opaque",
      data,
    } as KubeObject);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The root ConfigMap from the Secret's root-cert.pem. */
export function rootConfigMap(secret: KubeObject, namespace: string): Result<KubeObject> {
  const b64 = (secret as { data?: Record<string, string> }).data?.[CACERTS_FILES.rootCert];
  if (!b64)
    return err(new Error(`Secret ${namespace}/${CA_SECRET}: data.${CACERTS_FILES.rootCert}: missing (Istio's cacerts layout needs it)`));
  const pem = Buffer.from(b64, "base64").toString("utf8");
  if (!pem.includes("-----BEGIN CERTIFICATE-----"))
    return err(new Error(`Secret ${namespace}/${CA_SECRET}: data.${CACERTS_FILES.rootCert}: not a PEM certificate`));
  return ok({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: ROOT_CONFIGMAP, namespace, labels: labels("controlplane") },
    data: { [CACERTS_FILES.rootCert]: pem },
  } as KubeObject);
}
