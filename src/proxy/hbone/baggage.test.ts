import { test } from "node:test";
import assert from "node:assert/strict";
import { baggageHeader, parseBaggage } from "./baggage.js";

test("baggageHeader writes upstream ztunnel's keys, the workload name under its kind", () => {
  assert.equal(
    baggageHeader({
      clusterId: "Kubernetes",
      namespace: "demo",
      workloadName: "client",
      workloadType: "DEPLOYMENT",
      canonicalName: "client",
      canonicalRevision: "v1",
      locality: { region: "r1", zone: "" },
    }),
    "k8s.cluster.name=Kubernetes,k8s.namespace.name=demo,k8s.deployment.name=client,service.name=client,service.version=v1,cloud.region=r1",
  );
  assert.match(
    baggageHeader({
      clusterId: "c",
      namespace: "n",
      workloadName: "p",
      workloadType: "POD",
      canonicalName: "a b",
      canonicalRevision: "latest",
    }),
    /k8s\.pod\.name=p,service\.name=a%20b,/,
  );
});

test("parseBaggage reads upstream's header, repeated headers, empty values and foreign members", () => {
  assert.deepEqual(parseBaggage("k8s.cluster.name=K1,k8s.namespace.name=NS1,k8s.deployment.name=N1,service.name=N2,service.version=V1"), {
    clusterId: "K1",
    namespace: "NS1",
    workloadName: "N1",
    serviceName: "N2",
    revision: "V1",
  });
  assert.deepEqual(parseBaggage(["k8s.cluster.name=K1", "k8s.job.name=J;prop=1", "userId=alice"]), { clusterId: "K1", workloadName: "J" });
  assert.deepEqual(parseBaggage("k8s.cluster.name=,k8s.namespace.name=,service.name="), {});
  assert.deepEqual(parseBaggage(undefined), {});
  const round = {
    clusterId: "c",
    namespace: "n",
    workloadName: "w",
    workloadType: "CRONJOB",
    canonicalName: "svc/x",
    canonicalRevision: "1",
  } as const;
  assert.deepEqual(parseBaggage(baggageHeader(round)), {
    clusterId: "c",
    namespace: "n",
    workloadName: "w",
    serviceName: "svc/x",
    revision: "1",
  });
});
