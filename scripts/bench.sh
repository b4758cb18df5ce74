#!/usr/bin/env bash
# `npm run bench`: builds weft, then measures direct TCP, a stunnel mTLS pair and a weft ztunnel
# pair side by side over loopback (bench/main.ts) and writes docs/benchmarks.md.
# Settings are BENCH_* environment variables (bench/config.ts); a full run takes 2-3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

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

node dist/bench/main.js
