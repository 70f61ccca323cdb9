#!/usr/bin/env bash
# The main job on a built-in default: ADD a demo namespace with build/bin/tsbridge, show its
# address and routes, ping the gateway, CHECK, DEL, and show that nothing is left. Everything
# happens inside a throwaway "node" namespace, so the machine's own network is never touched.
set -euo pipefail
bin=$(cd "$(dirname "$0")" && pwd)/bin/tsbridge
id=$$
node_ns=tsb-demo-node-$id
pod_ns=tsb-demo-pod-$id
data=$(mktemp -d /tmp/tsb-demo-ipam.XXXXXX)
cleanup() {
  ip netns del "$pod_ns" 2>/dev/null || true
  ip netns del "$node_ns" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
ip netns add "$node_ns"
ip netns add "$pod_ns"
ip -n "$node_ns" link set lo up

conf=$(cat <<JSON
{"cniVersion":"1.1.0","name":"demo","type":"tsbridge","bridge":"tsb0",
 "isGateway":true,"isDefaultGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","dataDir":"$data","ranges":[[{"subnet":"10.77.0.0/24"}]]}}
JSON
)
run() { # run tsbridge as the runtime would, with the "node" namespace as the host
  CNI_COMMAND=$1 CNI_CONTAINERID=demo-$id CNI_NETNS=/run/netns/$pod_ns CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    ip netns exec "$node_ns" "$bin" <<<"$2"
}

echo "== ADD"
result=$(run ADD "$conf")
echo "$result"
echo "== inside the pod"
ip -n "$pod_ns" -br addr show eth0
ip -n "$pod_ns" route
gw=$(ip -n "$pod_ns" route show default | awk '{print $3}')
echo "== ping the gateway $gw"
ip netns exec "$pod_ns" ping -c 2 -W 1 "$gw"
echo "== CHECK"
# the network config with the ADD result as prevResult, as the runtime sends it to CHECK and DEL
with_prev_js='const c=JSON.parse(process.argv[1]); c.prevResult=JSON.parse(process.argv[2]);
  console.log(JSON.stringify(c))'
with_prev_py='import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.loads(sys.argv[2]); print(json.dumps(c))'
prev=$(node -e "$with_prev_js" "$conf" "$result" 2>/dev/null || python3 -c "$with_prev_py" "$conf" "$result")
run CHECK "$prev" && echo "CHECK ok"
echo "== DEL (twice: DEL is idempotent)"
run DEL "$prev" && run DEL "$prev" && echo "DEL ok"
echo "== left behind: links in the pod, IPAM files"
ip -n "$pod_ns" -br link
ls -A "$data/demo" | grep -v -e '^lock$' -e '^last_reserved_ip' || echo "(no IP reservations)"
