#!/usr/bin/env bash
# `npm run bench`: builds weft, then measures direct TCP, a stunnel mTLS pair and a weft ztunnel
# pair side by side over loopback (bench/main.ts) and writes docs/benchmarks.md.
# Settings are BENCH_* environment variables (bench/config.ts); a full run takes 2-3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node-env.sh   # the pinned Node.js runtime first on PATH (installed by scripts/setup.sh)

for tool in stunnel4 iperf3 openssl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing; run scripts/setup.sh as root" >&2; exit 2; }
done

# The memory phase holds BENCH_OPEN_CONNS (10k) client sockets in the bench process, and each
# proxy holds two sockets per connection: raise the open-file limit (root may raise the hard one).
want=65536
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || echo "bench: cannot raise the hard open-file limit ($(ulimit -Hn)) as $(id -un)" >&2
fi
ulimit -Sn "$( [ "$(ulimit -Hn)" = unlimited ] && echo "$want" || echo $(( $(ulimit -Hn) < want ? $(ulimit -Hn) : want )) )"

weft_node_check || exit 2

echo "== build (tsc)"
# tsc exits non-zero on type errors anywhere in the tree but still emits; the bench only needs
# its own output and the weft command to exist.
tsc_log=$(mktemp)
trap 'rm -f "$tsc_log"' EXIT
npx tsc -p tsconfig.json >"$tsc_log" 2>&1 || {
  if grep -q '^bench/' "$tsc_log"; then grep '^bench/' "$tsc_log" >&2; exit 2; fi
  echo "bench: tsc reported errors outside bench/ (continuing with what was emitted):" >&2
  head -n 20 "$tsc_log" >&2
}
[ -f dist/bench/main.js ] || { echo "bench: dist/bench/main.js was not built" >&2; exit 2; }

# The proxy comparison (issue: ztunnel HBONE data plane) writes docs/benchmarks.md; the other
# subsystems' benchmarks follow, each printing its own table with ratios or targets, and their
# output is appended to docs/benchmarks.md under its own heading.
status=0
node dist/bench/main.js || status=$?

section() {
  local title="$1"; shift
  echo; echo "== $title"
  local out
  out=$(mktemp)
  if "$@" 2>&1 | tee "$out"; then :; else status=1; fi
  { echo; echo "## $title"; echo; echo '```'; grep -v '^{"level"' "$out"; echo '```'; } >> docs/benchmarks.md
  rm -f "$out"
}
section "Round-trip latency at concurrency 1: direct, stunnel, ztunnel pairs (ping-pong)" node dist/bench/pingpong.js
section "CA: key, CSR and signing cost per certificate" node dist/bench/ca-sign.js 100
section "Control plane: delta xDS push (10k pods, 1k services, 100 ztunnel clients)" node --expose-gc dist/bench/xds-push.js
section "L4 authorization: evaluation cost (decisions/s)" node dist/bench/authz-evaluate.js
section "L4 authorization: connection admission through two ztunnels" node dist/bench/authz-admission.js
if [ "$(id -u)" = 0 ]; then
  section "Capture: eBPF vs nftables vs no capture (pod to pod in network namespaces)" node dist/bench/capture-cost.js
  section "Local cluster: pod to pod across nodes, no mesh vs mesh, per backend" node dist/bench/local-capture.js
  section "Waypoint (L7): one HTTP hop vs nginx and haproxy, L4-only and direct, HTTP/1.1 and HTTP/2" node dist/bench/waypoint.js
else
  echo "!! SKIPPING the capture, local-cluster and waypoint benchmarks: they need root (network namespaces, tc, nftables)" >&2
fi
exit "$status"
