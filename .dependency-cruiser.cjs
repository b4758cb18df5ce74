// The layering of src/ (docs/architecture.md "Layers"), checked by `npm test` (scripts/test.sh):
// a component (ztunnel, waypoint, controlplane, cni, local, dashboard) imports shared layers (common, proxy,
// kube, ca, capture) and never another component; shared layers import no component; only
// src/cli (the entry points) composes components. No import cycles anywhere.
const COMPONENTS = "ztunnel|waypoint|controlplane|cni|local|dashboard";
const SHARED = "common|proxy|kube|ca|capture";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "import cycles make load order and layering unclear",
      from: {},
      to: { circular: true },
    },
    {
      name: "component-imports-component",
      severity: "error",
      comment: "a component imports shared layers only; move what two components need into a shared layer",
      from: { path: `^src/(${COMPONENTS})/`, pathNot: "\\.test\\.ts$" },
      to: { path: `^src/(${COMPONENTS})/`, pathNot: "^src/$1/" },
    },
    {
      name: "shared-imports-component",
      severity: "error",
      comment: "shared layers sit below every component",
      from: { path: `^src/(${SHARED})/`, pathNot: "\\.test\\.ts$" },
      to: { path: `^src/(${COMPONENTS}|cli)/` },
    },
    {
      name: "common-imports-layer",
      severity: "error",
      comment: "src/common is the bottom layer",
      from: { path: "^src/common/", pathNot: "\\.test\\.ts$" },
      to: { path: `^src/(?!common/)` },
    },
    {
      name: "src-imports-tests",
      severity: "error",
      comment: "product code never imports test or bench code",
      from: { path: "^src/", pathNot: "\\.test\\.ts$" },
      to: { path: "^(test|bench)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules|\\.distcheck)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
