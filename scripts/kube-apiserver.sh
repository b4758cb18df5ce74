#!/usr/bin/env bash
# Builds (once) and caches the Kubernetes binaries the kube integration tests run against:
# kube-apiserver, and a matching etcd server. Both come from the Go module proxy as ordinary Go
# modules; nothing is downloaded from anywhere else.
#
# How: a throwaway Go module under $WEFT_CACHE/kube/build-<version> requires k8s.io/kubernetes at
# KUBE_VERSION (scripts/kube-module.sh writes it: staging modules pinned to their releases). etcd is
# go.etcd.io/etcd/server/v3 at the version kubernetes itself requires (built in the same module,
# so it shares the dependency graph and most of the compile work).
#
# Output: $WEFT_CACHE/kube/<version>/{kube-apiserver,etcd} and a `ready` stamp written last.
# A second run with the stamp present prints the directory and exits at once.
#
# Usage: scripts/kube-apiserver.sh [--print-dir]
#   KUBE_VERSION (default below), WEFT_CACHE (default ~/.cache/weft), GOFLAGS are honoured.
# Prints the binary directory as the last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
CACHE="${WEFT_CACHE:-$HOME/.cache/weft}/kube"
OUT="$CACHE/$KUBE_VERSION"
BUILD="$CACHE/build-$KUBE_VERSION"

if [ "${1:-}" = "--print-dir" ]; then echo "$OUT"; exit 0; fi
if [ -f "$OUT/ready" ] && [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ]; then
  echo "$OUT"
  exit 0
fi

# shellcheck source=scripts/kube-module.sh
. "$here/kube-module.sh"
kube_go_env kube-apiserver.sh

# One builder at a time (tests may call this concurrently).
mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock 9
if [ -f "$OUT/ready" ]; then echo "$OUT"; exit 0; fi
kube_go_lock

start=$(date +%s)
echo "kube-apiserver.sh: building kube-apiserver and etcd $KUBE_VERSION into $OUT (cold build: 10-20 min on 2 cores)" >&2
mkdir -p "$BUILD" "$OUT"
cd "$BUILD"

kube_write_module "$KUBE_VERSION" yes go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-apiserver
etcd_version=$KUBE_ETCD_VERSION
ldflags=$(kube_ldflags "$KUBE_VERSION")
echo "kube-apiserver.sh: go build kube-apiserver" >&2
nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
echo "kube-apiserver.sh: go build etcd" >&2
nice -n 10 go build -trimpath -ldflags="-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
mv "$OUT/etcd.tmp" "$OUT/etcd"
"$OUT/kube-apiserver" --version >&2
"$OUT/etcd" --version >&2
echo "$KUBE_VERSION etcd=$etcd_version built=$(date -u +%FT%TZ) seconds=$(( $(date +%s) - start ))" > "$OUT/ready"
echo "kube-apiserver.sh: done in $(( $(date +%s) - start ))s" >&2
echo "$OUT"
