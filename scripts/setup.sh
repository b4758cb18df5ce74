#!/usr/bin/env bash
# Installs everything weft needs on a fresh Debian machine of the project's kind, idempotently:
# Debian packages (toolchain for bpf/ and the addon, nftables, iproute2, CNI plugins, peers used
# by tests and benchmarks), the pinned Node.js runtime (scripts/node-env.sh), npm dependencies,
# and the native parts (BPF objects, N-API addon built against the pinned Node's headers).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node-env.sh

PKGS=(clang llvm libbpf-dev bpftool nftables iproute2 containernetworking-plugins tcpdump tshark
      stunnel4 nginx-light haproxy etcd-server iperf3 wrk nghttp2-client bind9-dnsutils make gcc g++ python3 openssl
      chromium prometheus containerd runc iptables util-linux libnghttp2-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "!! missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi

# Node.js: the registry's binary package for this platform, checked against the pinned sha512
# and unpacked into $WEFT_NODE_DIR (an existing node and npm, e.g. Debian's, only bootstrap this).
if ! weft_node_ready; then
  echo "== node $WEFT_NODE_VERSION (npm registry: node-linux-$WEFT_NODE_ARCH) -> $WEFT_NODE_DIR"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-$WEFT_NODE_ARCH@$WEFT_NODE_VERSION" >/dev/null)
  tgz="$tmp/node-linux-$WEFT_NODE_ARCH-$WEFT_NODE_VERSION.tgz"
  got=$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
  if [ "$got" != "$WEFT_NODE_SHA512" ]; then
    echo "!! node-linux-$WEFT_NODE_ARCH@$WEFT_NODE_VERSION: sha512 $got is not the pinned $WEFT_NODE_SHA512" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp"
  rm -rf "$WEFT_NODE_DIR"
  mkdir -p "$(dirname "$WEFT_NODE_DIR")"
  mv "$tmp/package" "$WEFT_NODE_DIR"
  rm -rf "$tmp"
  trap - EXIT
  weft_node_ready || { echo "!! $WEFT_NODE_DIR/bin/node does not run as v$WEFT_NODE_VERSION" >&2; exit 1; }
fi
weft_node_check

# npm ci again when the runtime changed, so nothing in node_modules was installed for another one.
stamp="node_modules/.weft-node-version"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ "$(cat "$stamp" 2>/dev/null)" != "$WEFT_NODE_VERSION" ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
  echo "$WEFT_NODE_VERSION" > "$stamp"
fi

# Native parts: built here when their sources exist (bpf/ and native/ land with the capture issue).
if [ -f bpf/Makefile ]; then echo "== bpf"; make -s -C bpf; fi
if [ -f native/binding.gyp ]; then
  echo "== native addon"
  # --nodedir: the pinned runtime ships its headers (include/node), so node-gyp needs nothing from
  # nodejs.org (N-API: the addon's ABI does not depend on the Node version it was built with).
  (cd native && npx node-gyp rebuild --nodedir="$WEFT_NODE_DIR" --silent >/dev/null)
fi
