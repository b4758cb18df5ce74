#!/usr/bin/env bash
# `npm run images`: weft's OCI images (weft, pause, sample-app) into build/images/, built from this
# repository and installed Debian packages with no registry or container engine
# (src/image/main.ts; docs/kubernetes-testbed.md). Builds the TypeScript first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node-env.sh
npx tsc -p tsconfig.json
node dist/src/image/main.js "$@"
