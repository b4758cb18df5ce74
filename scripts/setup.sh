#!/usr/bin/env bash
# Installs everything weft needs on a fresh Debian machine of the project's kind, idempotently:
# Debian packages (toolchain for bpf/ and the addon, nftables, iproute2, CNI plugins, peers used
# by tests and benchmarks), npm dependencies, and the native parts (BPF objects, N-API addon).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(clang llvm libbpf-dev bpftool nftables iproute2 containernetworking-plugins tcpdump tshark
      stunnel4 nginx-light haproxy etcd-server iperf3 wrk nghttp2-client make gcc g++ python3 openssl
      chromium prometheus)
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

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

# Native parts: built here when their sources exist (bpf/ and native/ land with the capture issue).
if [ -f bpf/Makefile ]; then echo "== bpf"; make -s -C bpf; fi
if [ -f native/binding.gyp ]; then
  echo "== native addon"
  (cd native && npx node-gyp rebuild --nodedir=/usr --silent >/dev/null)
fi
