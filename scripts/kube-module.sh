# Sourced by scripts/kube-apiserver.sh and scripts/kube-node.sh: writes the throwaway Go module that
# builds Kubernetes binaries from the Go module proxy.
#
# k8s.io/kubernetes points its staging modules (k8s.io/api, apimachinery, ...) at ./staging/src
# through `replace` directives, which Go ignores for dependencies and which name the placeholder
# version v0.0.0; so the module pins every staging module to the published v0.x.y of the same
# release with its own `replace` lines, derived from kubernetes' own go.mod.
#
# kube_go_env NAME: Go on PATH (or /usr/local/go) and the build environment; NAME is for messages.
kube_go_env() {
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null || { echo "$1: 'go' not found on PATH or in /usr/local/go (Go >= 1.25 needed)" >&2; exit 2; }
  # Kubernetes' binaries and etcd need no cgo on linux.
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=mod"
}

# kube_go_lock: one Go build on the machine at a time (2 cores shared by several sessions); held
# on fd 8 until the script exits.
kube_go_lock() {
  exec 8>/tmp/weft-go.lock
  flock 8
}

# kube_write_module KUBE_VERSION ETCD(yes|no) IMPORT...   (in the current directory)
# Sets KUBE_ETCD_VERSION (the etcd server version kubernetes requires).
kube_write_module() {
  local version=$1 with_etcd=$2
  shift 2
  local kmod staging_version
  kmod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$version")
  staging_version="v0.${version#v1.}"
  local -a staging
  mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$kmod")
  [ "${#staging[@]}" -gt 0 ] || { echo "kube-module.sh: found no staging replaces in $kmod" >&2; return 1; }
  KUBE_ETCD_VERSION=$(sed -n 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[^[:space:]]*\).*#\1#p' "$kmod" | head -1)
  [ -n "$KUBE_ETCD_VERSION" ] || { echo "kube-module.sh: no go.etcd.io/etcd/server/v3 in $kmod" >&2; return 1; }
  {
    echo "module weft.local/kubebuild"
    echo
    echo "go $(go env GOVERSION | sed 's/^go\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require ("
    echo "	k8s.io/kubernetes $version"
    if [ "$with_etcd" = yes ]; then echo "	go.etcd.io/etcd/server/v3 $KUBE_ETCD_VERSION"; fi
    echo ")"
    echo
    echo "replace ("
    local m
    for m in "${staging[@]}"; do echo "	$m => $m $staging_version"; done
    echo ")"
  } > go.mod
  {
    echo "//go:build tools"
    echo
    echo "// Package tools only records which binaries this throwaway module builds."
    echo "package tools"
    echo
    echo "import ("
    local i
    for i in "$@"; do echo "	_ \"$i\""; done
    echo ")"
  } > tools.go
  echo "kube-module.sh: resolving modules (staging $staging_version, etcd $KUBE_ETCD_VERSION)" >&2
  go mod tidy -e >&2
}

# The -ldflags that stamp the release version into Kubernetes binaries.
kube_ldflags() {
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$1 -X k8s.io/client-go/pkg/version.gitVersion=$1"
}
