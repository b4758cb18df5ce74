# shellcheck shell=bash
# The project's Node.js runtime, pinned: sourced by every script (setup, test, demo, bench).
# Node 24 LTS comes from the npm registry's per-platform binary package `node-linux-<arch>`
# (what the `node` package's installer fetches; it holds bin/node and include/node, the headers
# node-gyp needs for the N-API addon). scripts/setup.sh downloads it with `npm pack`, checks the
# pinned sha512 and unpacks it into $WEFT_NODE_DIR; this file puts its bin/ first on PATH, so
# `node`, `npx`, npm's own JavaScript and every child that uses process.execPath run on it.
#   WEFT_NODE_DIR   where the runtime lives (default: .runtime/node-v<version>-linux-<arch> in
#                   the repository; images may use e.g. /opt/weft/node-<version>)
WEFT_NODE_VERSION=24.21.0
case "$(uname -m)" in
  x86_64) WEFT_NODE_ARCH=x64
          WEFT_NODE_SHA512='sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==' ;;
  aarch64) WEFT_NODE_ARCH=arm64
          WEFT_NODE_SHA512='sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==' ;;
  *) echo "node-env: no pinned Node $WEFT_NODE_VERSION for machine $(uname -m)" >&2; return 2 ;;
esac
WEFT_NODE_DIR=${WEFT_NODE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.runtime/node-v$WEFT_NODE_VERSION-linux-$WEFT_NODE_ARCH}
export WEFT_NODE_VERSION WEFT_NODE_DIR
# node-gyp's headers: the pinned runtime's include/node (with Node's bundled OpenSSL headers,
# matching the OpenSSL the addon resolves from the node binary). As an environment variable,
# because node-gyp takes npm's `nodedir` config over its own --nodedir flag, and a machine's
# npmrc may set one (this machine kind's says nodedir=/usr: Debian's Node 20 headers).
export npm_config_nodedir="$WEFT_NODE_DIR"
case ":$PATH:" in
  *":$WEFT_NODE_DIR/bin:"*) ;;
  *) export PATH="$WEFT_NODE_DIR/bin:$PATH" ;;
esac

# True when the pinned runtime is installed and is the version pinned here.
weft_node_ready() {
  [ -x "$WEFT_NODE_DIR/bin/node" ] && [ "$("$WEFT_NODE_DIR/bin/node" --version 2>/dev/null)" = "v$WEFT_NODE_VERSION" ] &&
    [ -f "$WEFT_NODE_DIR/include/node/node_api.h" ]
}

# Refuses to go on unless `node` on PATH is the pinned runtime (scripts call this after setup).
weft_node_check() {
  local v
  v=$(node --version 2>/dev/null || true)
  if [ "$v" != "v$WEFT_NODE_VERSION" ]; then
    echo "node-env: node on PATH is '${v:-missing}', not the pinned v$WEFT_NODE_VERSION in $WEFT_NODE_DIR: run scripts/setup.sh" >&2
    return 1
  fi
}
