#!/usr/bin/env bash
# Builds (once) and caches the Kubernetes node and control-loop binaries the real Kubernetes test
# bed (test/k8s/testbed.ts) runs: kubelet, kube-controller-manager, kube-scheduler, kube-proxy and
# kubectl. Same way and same version as scripts/kube-apiserver.sh (the Go module proxy only, a
# throwaway module written by scripts/kube-module.sh), into the same directory.
#
# Output: $WEFT_CACHE/kube/<version>/{kubelet,kube-controller-manager,kube-scheduler,kube-proxy,kubectl}
# and a `ready-node` stamp written last (kube-apiserver.sh's stamp is `ready`). A second run with
# the stamp present prints the directory and exits at once.
#
# Usage: scripts/kube-node.sh [--print-dir]     (KUBE_VERSION, WEFT_CACHE, GOFLAGS are honoured)
# Prints the binary directory as the last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
CACHE="${WEFT_CACHE:-$HOME/.cache/weft}/kube"
OUT="$CACHE/$KUBE_VERSION"
BUILD="$CACHE/build-node-$KUBE_VERSION"
BINS=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)

built() {
  [ -f "$OUT/ready-node" ] || return 1
  local b
  for b in "${BINS[@]}"; do [ -x "$OUT/$b" ] || return 1; done
}
if [ "${1:-}" = "--print-dir" ]; then echo "$OUT"; exit 0; fi
if built; then echo "$OUT"; exit 0; fi

# shellcheck source=scripts/kube-module.sh
. "$here/kube-module.sh"
kube_go_env kube-node.sh

mkdir -p "$CACHE"
exec 9>"$CACHE/build-node.lock"
flock 9
if built; then echo "$OUT"; exit 0; fi
kube_go_lock

start=$(date +%s)
echo "kube-node.sh: building ${BINS[*]} $KUBE_VERSION into $OUT (cold build: 15-30 min on 2 cores)" >&2
mkdir -p "$BUILD" "$OUT"
cd "$BUILD"
pkgs=()
for b in "${BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
kube_write_module "$KUBE_VERSION" no "${pkgs[@]}"
ldflags=$(kube_ldflags "$KUBE_VERSION")
for b in "${BINS[@]}"; do
  echo "kube-node.sh: go build $b" >&2
  nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$OUT/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2
done
for b in "${BINS[@]}"; do mv "$OUT/$b.tmp" "$OUT/$b"; done
for b in kubelet kube-controller-manager kube-scheduler kube-proxy; do "$OUT/$b" --version >&2; done
"$OUT/kubectl" version --client >&2
echo "$KUBE_VERSION ${BINS[*]} built=$(date -u +%FT%TZ) seconds=$(( $(date +%s) - start ))" > "$OUT/ready-node"
echo "kube-node.sh: done in $(( $(date +%s) - start ))s" >&2
echo "$OUT"
