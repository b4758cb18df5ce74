#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, lint, type-check, build, then every test.
# Unit tests sit beside the code (src/**/*.test.ts); integration and end-to-end tests live in test/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint"; npx eslint --max-warnings 0 src test bench
echo "== format (prettier --check)"; npx prettier --check --log-level warn .
echo "== layers and import cycles (dependency-cruiser, .dependency-cruiser.cjs)"; npx depcruise src test bench --config .dependency-cruiser.cjs
echo "== build (tsc, strict)"; npx tsc -p tsconfig.json
echo "== kube-apiserver + etcd for the Kubernetes source tests (built once from the Go module proxy, then cached)"
t0=$(date +%s)
bash scripts/kube-apiserver.sh | tail -n 1
echo "   ($(( $(date +%s) - t0 )) s)"
echo "== tests"
if [ "$(id -u)" != 0 ]; then
  echo "!! NOT ROOT: network-namespace, eBPF and nftables tests will SKIP (they say so one by one)." >&2
fi
mapfile -t files < <(find dist/src dist/test -name '*.test.js' | sort)
node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "${files[@]}"
