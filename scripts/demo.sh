#!/usr/bin/env bash
# weft's demo (`sudo npm run demo`): a two-node local cluster on network namespaces with a small
# multi-service app (examples/demo), first outside the mesh, then enrolled LIVE by labelling its
# namespace: the same pods, no restart, now mutual TLS with SPIFFE identities. Then L7: a
# waypoint for bookinfo's reviews (examples/bookinfo-waypoint, echo pods), a 90/10 canary split
# and a header-based route, in the HTTPRoute form and the VirtualService form. On the way: an
# AuthorizationPolicy denies a call and `weft authz explain` names it; `weft dashboard` draws the
# live graph (its address is printed).
# Stays up until Ctrl-C and tears everything down on exit (also on error): namespaces, pins,
# processes, and the state's secrets (CA key, tokens) and packet captures; the logs stay.
#   DEMO_NONINTERACTIVE=1   run the steps and exit (used by test/e2e/demo.test.ts)
#   WEFT_BACKEND=nftables   use the nftables redirection instead of eBPF
#   WEFT_DEMO_DIR=DIR       state directory (default /run/weft-demo)
#   WEFT_DEMO_SKIP_BUILD=1  do not run scripts/setup.sh and tsc (already built)
#   WEFT_DEMO_DASHBOARD=HOST:PORT  where `weft dashboard` listens (default 127.0.0.1:20001; "off": none)
#   WEFT_DEMO_PREFIX, WEFT_DEMO_CLUSTER, WEFT_DEMO_PIN_ROOT: namespace prefix, cluster name and
#                           BPF pin root (tests use their own so they never touch a user's cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node-env.sh   # the pinned Node.js runtime first on PATH (installed by scripts/setup.sh)

STATE=${WEFT_DEMO_DIR:-/run/weft-demo}
BACKEND=${WEFT_BACKEND:-ebpf}
NAME=${WEFT_DEMO_CLUSTER:-demo}
PREFIX=${WEFT_DEMO_PREFIX:-weft-}          # tests: wefttest-loc-
PIN_ROOT=${WEFT_DEMO_PIN_ROOT:-/sys/fs/bpf/weft}
NS_PREFIX="${PREFIX}${NAME}"
MARKER="weft-demo-payload"
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
die() { printf '\n\033[31mdemo failed: %s\033[0m\n' "$*" >&2; exit 1; }
weft() { node dist/src/cli/main.js "$@"; }
DASHBOARD=${WEFT_DEMO_DASHBOARD:-127.0.0.1:20001}
DASH_PID=""
# wait_for WHAT SECONDS CMD...: runs CMD every 0.25 s until it succeeds, printing a dot per second.
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  printf '   waiting for %s (up to %s s) ' "$what" "$secs"
  for i in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then printf ' ok\n'; return 0; fi
    [ $((i % 4)) = 0 ] && printf '.'
    sleep 0.25
  done
  printf ' gave up\n'
  return 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, eBPF, nftables): sudo npm run demo"

if [ "${WEFT_DEMO_SKIP_BUILD:-}" != 1 ]; then
  bold "build (scripts/setup.sh, tsc: about a minute on a fresh clone, seconds after)"
  bash scripts/setup.sh
  npx tsc -p tsconfig.json
fi
weft_node_check || die "the pinned Node.js runtime is missing: bash scripts/setup.sh"

cleanup() {
  trap - EXIT INT TERM
  bold "tear down"
  if [ -n "$DASH_PID" ]; then kill "$DASH_PID" 2>/dev/null || true; fi
  weft local down --dir "$STATE" --name "$NAME" --prefix "$PREFIX" --pin-root "$PIN_ROOT" | cut -c1-200
  # The demo's secrets and captures go with it; its logs stay for reading.
  rm -rf "$STATE/ca" "$STATE"/tokens.yaml "$STATE"/token-* "$STATE"/*.pcap "$STATE"/*.keylog
  say "removed the demo's CA key, tokens and packet captures; logs stay in $STATE/logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_pod() { ip netns exec "${NS_PREFIX}-pod-demo-$1" "${@:2}"; }
call() { in_pod client curl -sS --max-time 5 http://198.19.0.10/; }
pod_pids() { cat "$STATE"/pids/pod-*.json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(s.split("}").filter(Boolean).map(x=>JSON.parse(x+"}").pid).sort().join(" ")))'; }

# capture SECONDS: tcpdump on the underlay bridge while the client makes a few calls.
capture() {
  local out=$1
  # --immediate-mode: otherwise libpcap hands packets over in blocks and the last ones are lost.
  ip netns exec "${NS_PREFIX}-underlay" tcpdump -i br0 --immediate-mode -U -s 0 -w "$out" tcp >/dev/null 2>&1 &
  local tp=$!
  sleep 1
  for _ in 1 2 3; do call >/dev/null || true; done
  sleep 1
  kill "$tp" 2>/dev/null || true
  wait "$tp" 2>/dev/null || true
}

bold "1. two nodes, the sample app, NOT in the mesh (backend: $BACKEND)"
say "starting the control plane, two ztunnels and CNI agents, then the pods (about 10 s)"
weft local up --dir "$STATE" --name "$NAME" --prefix "$PREFIX" --pin-root "$PIN_ROOT" --backend "$BACKEND" examples/demo examples/bookinfo-waypoint/app
weft local status --dir "$STATE"

bold "2. a call from the client pod (node-1) to the frontend VIP (node-0): plaintext"
call | sed 's/^/   /' || die "the call failed without the mesh"
capture "$STATE/plain.pcap"
hits=$(tcpdump -r "$STATE/plain.pcap" -A 2>/dev/null | grep -c "$MARKER" || true)
say "tcpdump on the underlay bridge: the payload marker '$MARKER' seen $hits times in clear:"
# Display-only pipelines end in `|| true`: `head` closing early is not a failure of the demo.
tcpdump -r "$STATE/plain.pcap" -A 2>/dev/null | grep "$MARKER" | head -3 | sed 's/^/     /' || true
[ "$hits" -gt 0 ] || die "expected the plaintext payload on the underlay"
before=$(pod_pids)
say "pod process ids: $before"

bold "3. label the namespace: kubectl label namespace demo istio.io/dataplane-mode=ambient"
weft local label namespace demo istio.io/dataplane-mode=ambient --dir "$STATE"
enrolled5() { [ "$(weft local status --dir "$STATE" | grep -c "^demo/.* enrolled (" || true)" -ge 5 ]; }
wait_for "the 5 demo pods to be enrolled" 10 enrolled5 || true
n=$(weft local status --dir "$STATE" | grep -c "^demo/.* enrolled (" || true)
weft local status --dir "$STATE" | sed -n '/^POD/,/^$/p'
[ "$n" -ge 5 ] || die "pods were not enrolled"

bold "4. the same calls now go through ztunnel over HBONE (mTLS, port 15008)"
wait_for "a call through the mesh" 10 call || die "calls fail after enrollment"
call | sed 's/^/   /'
capture "$STATE/mesh.pcap"
hits=$(tcpdump -r "$STATE/mesh.pcap" -A 2>/dev/null | grep -c "$MARKER" || true)
say "tcpdump on the underlay: payload marker seen $hits times; connections seen:"
tcpdump -nr "$STATE/mesh.pcap" 2>/dev/null | awk '{ sub(/:$/, "", $5); print $3" > "$5 }' \
  | sed -E 's/\.(1500[0-9]|15012)( |$)/:\1\2/g; s/\.[0-9]+( |$)/\1/g' | sort | uniq -c | sort -rn | head -6 | sed 's/^/     /' || true
[ "$hits" = 0 ] || die "payload seen in clear on the underlay after enrollment"
# Positive control: an absence means something only if the capture saw the calls, as HBONE.
hbone=$(tcpdump -nr "$STATE/mesh.pcap" 'port 15008' 2>/dev/null | wc -l)
[ "$hbone" -gt 0 ] || die "the capture holds no HBONE packet: it did not see the calls, so their absence in clear proves nothing"
other=$(tcpdump -nr "$STATE/mesh.pcap" 'not port 15008 and not port 15012' 2>/dev/null | wc -l)
[ "$other" = 0 ] || die "$other packets on the underlay that are not HBONE (15008) or control plane (15012)"
after=$(pod_pids)
say "pod process ids: $after"
[ "$before" = "$after" ] || die "pod processes changed: enrollment must not restart pods"
say "=> no payload in clear, only HBONE on 15008; no pod was restarted"

bold "5. ztunnel metrics on node-1 (the client's node): SPIFFE identities, mutual_tls"
# Read the metrics once: `grep -q` closing a pipe early makes curl fail under pipefail.
metrics=$(ip netns exec "${NS_PREFIX}-node1" curl -sS --max-time 3 http://198.18.0.12:15020/metrics) \
  || die "cannot read ztunnel's metrics on node-1"
printf '%s\n' "$metrics" | grep '^istio_tcp_connections_opened_total' | grep 'reporter="source"' \
  | grep -o 'source_principal="[^"]*"\|destination_principal="[^"]*"\|destination_service="[^"]*"\|connection_security_policy="[^"]*"' \
  | paste -sd' ' | sed 's/ source_principal/\n   source_principal/g; s/^/   /' || true
grep -q 'connection_security_policy="mutual_tls"' <<<"$metrics" || die "no mutual_tls connection in ztunnel's metrics"
say "node-0 ztunnel's certificates (config dump):"
ip netns exec "${NS_PREFIX}-node0" curl -sS --max-time 3 http://198.18.0.11:15000/config_dump \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const c of JSON.parse(s).certificates??[])console.log(`     ${c.identity} ${c.state}`)})'

if [ "$DASHBOARD" != off ]; then
  bold "5b. the live service graph: weft dashboard"
  # node itself in the background (not the `weft` function, whose subshell's pid would be $!
  # and whose node child would outlive cleanup's kill).
  node dist/src/cli/main.js dashboard --dir "$STATE" --listen "$DASHBOARD" --interval 2 >"$STATE/logs/dashboard.log" 2>&1 &
  DASH_PID=$!
  wait_for "the dashboard" 10 curl -sSf --max-time 1 "http://$DASHBOARD/healthz" || die "weft dashboard did not start (see $STATE/logs/dashboard.log)"
  say "open http://$DASHBOARD/ : workloads, services, rates, mTLS and denies, refreshed every 2 s"
fi

bold "5c. zero trust: an AuthorizationPolicy denies the client (examples/demo-policy)"
weft local apply --dir "$STATE" examples/demo-policy | sed 's/^/   /'
denied() { ! call; }
wait_for "the policy to reach the ztunnels" 10 denied || die "the DENY policy did not take effect"
say "the call now fails: $(call 2>&1 | head -1 || true)"
frontend=$(weft local status --dir "$STATE" | awk '$1 ~ /^demo\/frontend-/ {print $1; exit}')
say "weft authz explain --from demo/client --to $frontend:8080"
weft authz explain --dir "$STATE" --from demo/client --to "$frontend:8080" | sed 's/^/     /' || true
weft authz explain --dir "$STATE" --from demo/client --to "$frontend:8080" | grep -q "deny-client" \
  || die "authz explain did not name the denying policy"
weft local delete --dir "$STATE" examples/demo-policy | sed 's/^/   /'
wait_for "the call to be allowed again" 10 call || die "the call stays denied after the policy was deleted"

# L7 through a waypoint. `count N [curl args]`: N requests from bookinfo's client to reviews on
# one keep-alive connection (the waypoint routes each request, not each connection); prints how
# many answers each pod gave (the echo backend names its pod in its JSON answer), and as `direct`
# how many did not pass a waypoint (no x-request-id, which the waypoint adds to every request).
BI=198.19.1.10:9080
BIH=198.19.1.10
BIP=9080
in_bi() { ip netns exec "${NS_PREFIX}-pod-bookinfo-client" "$@"; }
count() {
  in_bi node -e '
const http = require("node:http");
const [n, host, port, ...hv] = process.argv.slice(1);
const headers = Object.fromEntries(hv.map((h) => [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 1).trim()]));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = () => new Promise((res) => {
  const r = http.get({ host, port, path: "/reviews/0", headers, agent, timeout: 5000 }, (resp) => {
    let s = ""; resp.on("data", (d) => (s += d)); resp.on("end", () => { try { const j = JSON.parse(s); res([j.pod.replace(/-[0-9a-f]{8}-\d+$/, ""), j.headers?.["x-request-id"] ? "" : "direct"]); } catch { res([`HTTP ${resp.statusCode}`]); } });
  });
  r.on("timeout", () => r.destroy(new Error("timeout"))); r.on("error", (e) => res([`error ${e.code || e.message}`]));
});
(async () => { const c = {}; for (let i = 0; i < Number(n); i++) { for (const k of await one()) if (k) c[k] = (c[k] || 0) + 1; }
  agent.destroy(); console.log(Object.entries(c).sort().map(([k, v]) => `${k}=${v}`).join(" ")); })();' "$@"
}
of() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2" | grep . || echo 0; }

l7_part() {
  bold "6. L7: a waypoint for bookinfo (istioctl waypoint apply -n bookinfo)"
  wait_for "bookinfo's reviews to answer" 10 in_bi curl -sS --max-time 2 "http://$BI/" || true
  say "without a waypoint, L4 balances connections: 30 requests on one connection all reach one pod: $(count 30 $BIH $BIP)"
  weft local apply --dir "$STATE" examples/bookinfo-waypoint/waypoint | sed 's/^/   /' || die "the waypoint did not start"
  weft local label namespace bookinfo istio.io/use-waypoint=waypoint --dir "$STATE" | sed 's/^/   /'
  weft local status --dir "$STATE" | grep -E '^(POD|bookinfo/waypoint)' | sed 's/^/   /' || true

  bold "7. canary: HTTPRoute reviews -> 90% v1, 10% v2 (examples/bookinfo-waypoint/httproute)"
  weft local apply --dir "$STATE" examples/bookinfo-waypoint/httproute | sed 's/^/   /'
  say "waiting for the route to reach the waypoint (up to 20 s)"
  canary=""
  for _ in $(seq 1 40); do
    probe=$(count 20 $BIH $BIP)
    # Every answer through the waypoint (the client's ztunnel may still be sending straight to one
    # pod for a moment after the use-waypoint label) and none from v3, which the route leaves out.
    [ "$(of direct "$probe")" = 0 ] && [ "$(of reviews-v3 "$probe")" = 0 ] && [[ "$probe" != *HTTP* && "$probe" != *error* ]] && canary=1 && break
    sleep 0.5
  done
  [ -n "$canary" ] || die "the route did not take effect: $probe"
  say "sending 400 requests (a few seconds)"
  split=$(count 400 $BIH $BIP)
  say "400 requests on one connection: $split"
  v1=$(of reviews-v1 "$split"); v2=$(of reviews-v2 "$split")
  # Binomial(400, 0.1): mean 40, sd 6; 4 sd either side.
  [ "$((v1 + v2))" = 400 ] && [ "$v2" -ge 16 ] && [ "$v2" -le 64 ] || die "not a 90/10 split: $split"
  say "=> canary split 90/10 within 4 standard deviations (v2: $v2 of 400, expected 40 +- 24)"

  bold "8. header route: end-user: jason -> v2"
  jason=$(count 50 $BIH $BIP "end-user: jason")
  say "50 requests with 'end-user: jason': $jason"
  [ "$(of reviews-v2 "$jason")" = 50 ] || die "jason's requests did not all go to v2: $jason"
  say "one answer as the backend saw it (its pod, and the headers the waypoint added):"
  in_bi curl -sS --max-time 3 -H "end-user: jason" "http://$BI/reviews/0?q=1" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(JSON.stringify({pod:r.pod,service:r.service,path:r.path,query:r.query,proto:r.proto,headers:r.headers},null,1))})' \
    | sed 's/^/     /' || true

  bold "9. the same routing in Istio's API: VirtualService + DestinationRule subsets"
  weft local delete --dir "$STATE" examples/bookinfo-waypoint/httproute | sed 's/^/   /'
  weft local apply --dir "$STATE" examples/bookinfo-waypoint/virtualservice | sed 's/^/   /'
  vs=""
  for _ in $(seq 1 40); do
    probe=$(count 20 $BIH $BIP "end-user: jason")
    [ "$(of reviews-v2 "$probe")" = 20 ] && vs=1 && break
    sleep 0.5
  done
  [ -n "$vs" ] || die "the VirtualService did not take effect: $probe"
  say "20 requests with 'end-user: jason': $probe"
  split=$(count 200 $BIH $BIP)
  say "200 requests without: $split"
  [ "$(of reviews-v3 "$split")" = 0 ] && [ "$(of reviews-v1 "$split")" -ge 150 ] || die "not a 90/10 split: $split"
  wp=$(weft local status --dir "$STATE" | awk '$1 ~ /^bookinfo\/waypoint-/ {print $3; exit}')
  if [ -n "$wp" ]; then
    say "waypoint metrics (reporter=waypoint):"
    ip netns exec "${NS_PREFIX}-node0" curl -sS --max-time 3 "http://$wp:15020/metrics" 2>/dev/null \
      | grep '^istio_requests_total' | grep -o 'destination_workload="[^"]*"\|response_code="[^"]*"\|} [0-9]*' | paste -sd' ' \
      | sed 's/} /= /g; s/ destination_workload/\n     destination_workload/g; s/^/     /' || true
  fi
}

# The waypoint proxy is a separate piece (dist/src/cli/waypoint.js); a build without it skips L7, loudly.
if [ ! -f dist/src/cli/waypoint.js ]; then
  bold "6-9. L7 part SKIPPED: this build has no \`weft waypoint\`"
  L7="skipped (no weft waypoint in this build)"
else
  l7_part
  L7="bookinfo's reviews is routed by a waypoint"
fi

bold "done: the demo namespace is in the mesh; L7: $L7"
if [ "${DEMO_NONINTERACTIVE:-}" = 1 ]; then exit 0; fi
say "try: sudo ip netns exec ${NS_PREFIX}-pod-demo-client curl -s http://198.19.0.10/"
say "     sudo ip netns exec ${NS_PREFIX}-pod-bookinfo-client curl -s -H 'end-user: jason' http://$BI/"
say "     sudo node dist/src/cli/main.js local status --dir $STATE"
if [ -n "$DASH_PID" ]; then say "     the live graph: http://$DASHBOARD/"; fi
say "     sudo node dist/src/cli/main.js local label namespace demo istio.io/dataplane-mode- --dir $STATE"
say "Ctrl-C tears everything down."
while true; do sleep 3600 & wait $!; done
