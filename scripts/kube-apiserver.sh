#!/usr/bin/env bash
# Builds (once) and caches the Kubernetes binaries the kube integration tests run against:
# kube-apiserver, and a matching etcd server. Both come from the Go module proxy as ordinary Go
# modules; nothing is downloaded from anywhere else.
#
# How: a throwaway Go module under $WEFT_CACHE/kube/build-<version> requires k8s.io/kubernetes at
# KUBE_VERSION. k8s.io/kubernetes points its staging modules (k8s.io/api, apimachinery, ...) at
# ./staging/src through `replace` directives, which Go ignores for dependencies and which name the
# placeholder version v0.0.0; so this module pins every staging module to the published v0.x.y of
# the same release with its own `replace` lines, derived from kubernetes' own go.mod. etcd is
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

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
CACHE="${WEFT_CACHE:-$HOME/.cache/weft}/kube"
OUT="$CACHE/$KUBE_VERSION"
BUILD="$CACHE/build-$KUBE_VERSION"

if [ "${1:-}" = "--print-dir" ]; then echo "$OUT"; exit 0; fi
if [ -f "$OUT/ready" ] && [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ]; then
  echo "$OUT"
  exit 0
fi

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "kube-apiserver.sh: 'go' not found on PATH or in /usr/local/go (Go >= 1.25 needed)" >&2; exit 2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=mod"

# One builder at a time (tests may call this concurrently).
mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock 9
if [ -f "$OUT/ready" ]; then echo "$OUT"; exit 0; fi

start=$(date +%s)
echo "kube-apiserver.sh: building kube-apiserver and etcd $KUBE_VERSION into $OUT (cold build: 10-20 min on 2 cores)" >&2
mkdir -p "$BUILD" "$OUT"
cd "$BUILD"

# kubernetes' go.mod tells which staging modules exist and which etcd it needs.
kmod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBE_VERSION")
staging_version="v0.${KUBE_VERSION#v1.}"
mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$kmod")
[ "${#staging[@]}" -gt 0 ] || { echo "kube-apiserver.sh: found no staging replaces in $kmod" >&2; exit 1; }
etcd_version=$(sed -n 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[^[:space:]]*\).*#\1#p' "$kmod" | head -1)
[ -n "$etcd_version" ] || { echo "kube-apiserver.sh: no go.etcd.io/etcd/server/v3 in $kmod" >&2; exit 1; }

{
  echo "module weft.local/kubebuild"
  echo
  echo "go $(go env GOVERSION | sed 's/^go\([0-9]*\.[0-9]*\).*/\1/')"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $etcd_version"
  echo ")"
  echo
  echo "replace ("
  for m in "${staging[@]}"; do echo "	$m => $m $staging_version"; done
  echo ")"
} > go.mod
cat > tools.go <<'EOF'
//go:build tools

// Package tools only records which binaries this throwaway module builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
EOF

echo "kube-apiserver.sh: resolving modules (staging $staging_version, etcd $etcd_version)" >&2
go mod tidy -e >&2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
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
