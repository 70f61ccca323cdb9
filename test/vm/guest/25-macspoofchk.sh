# macspoofchk on this kernel: a container that takes another MAC gets nothing through the bridge,
# its neighbour (same bridge, own chain) still does; DEL leaves no chain of it.
. /tests/lib.sh
node=ms-node
mkns "$node"; mkns ms-a; mkns ms-b
conf='{"cniVersion":"1.0.0","name":"msnet","type":"tsbridge","bridge":"msbr0","macspoofchk":true,
  "ipam":{"type":"host-local","dataDir":"/tmp/ipam-ms","ranges":[[{"subnet":"10.94.0.0/24"}]]}}'
ra=$(cni "$node" ADD ma /run/netns/ms-a "$conf"); rb=$(cni "$node" ADD mb /run/netns/ms-b "$conf")
a=$(echo "$ra" | sed -n 's/.*"address": *"\([0-9.]*\)\/24".*/\1/p')
b=$(echo "$rb" | sed -n 's/.*"address": *"\([0-9.]*\)\/24".*/\1/p')
nat=$(ip netns exec "$node" nft list table bridge nat 2>&1)
echo "$nat" | grep -q "cni-br-iface-ma-eth0-mac" && echo "$nat" | grep -q "cni-br-iface-mb-eth0-mac" &&
  ok "macspoofchk: both chains in bridge nat" || notok "macspoofchk: both chains in bridge nat" "$nat"
check "macspoofchk: a reaches b with its own MAC" ip netns exec ms-a ping -c 1 -W 2 "$b"
ip -n ms-a link set eth0 address 02:00:5e:00:53:99; ip -n ms-a neigh flush all; ip -n ms-b neigh flush all
check_not "macspoofchk: a with another MAC gets nothing through" ip netns exec ms-a ping -c 1 -W 2 "$b"
cni "$node" DEL ma /run/netns/ms-a "$conf" >/dev/null || notok "macspoofchk: DEL a"
nat=$(ip netns exec "$node" nft list table bridge nat 2>&1)
if echo "$nat" | grep -q "ma-eth0"; then notok "macspoofchk: DEL leaves no chain of a" "$nat"
else ok "macspoofchk: DEL leaves no chain of a"; fi
echo "$nat" | grep -q "cni-br-iface-mb-eth0-mac" && ok "macspoofchk: b keeps its chain" ||
  notok "macspoofchk: b keeps its chain" "$nat"
cni "$node" DEL mb /run/netns/ms-b "$conf" >/dev/null
cleanup
