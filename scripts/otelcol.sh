#!/usr/bin/env bash
# Builds (once) and caches the OpenTelemetry Collector the tracing tests export to: the
# collector's own Go modules (otelcol, the OTLP receiver, the debug exporter) from the Go module
# proxy, composed by test/infra/otelcol/main.go (go.mod and go.sum pin the release). Test
# infrastructure only: nothing of it ships.
#
# Output: $WEFT_CACHE/otelcol/<hash of the module files>/otelcol and a `ready` stamp.
# Usage: scripts/otelcol.sh     Prints the binary's path as the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=test/infra/otelcol
HASH=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)
OUT="${WEFT_CACHE:-$HOME/.cache/weft}/otelcol/$HASH"
if [ -f "$OUT/ready" ] && [ -x "$OUT/otelcol" ]; then echo "$OUT/otelcol"; exit 0; fi
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "otelcol.sh: 'go' not found on PATH or in /usr/local/go" >&2; exit 2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$OUT"
exec 9>"$OUT/build.lock"
flock 9
if [ -f "$OUT/ready" ]; then echo "$OUT/otelcol"; exit 0; fi
start=$(date +%s)
echo "otelcol.sh: building the OpenTelemetry Collector into $OUT (cold: about 5 min on 2 cores)" >&2
(cd "$SRC" && go build -trimpath -o "$OUT/otelcol" .)
touch "$OUT/ready"
echo "otelcol.sh: built in $(( $(date +%s) - start )) s" >&2
echo "$OUT/otelcol"
