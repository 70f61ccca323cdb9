# ADD/CHECK/DEL with masquerade and a port mapping on this (stock distribution) kernel, both
# firewall backends: the outside host sees the node's address for pod traffic, and the pod's
# published port answers from outside with the client's own address.
. /tests/lib.sh
for backend in iptables nftables; do
  n=vm-$backend
  node=$n-node; pod=$n-pod; out=$n-out
  mkns "$node"; mkns "$pod"; mkns "$out"
  ip -n "$node" link add to-out type veth peer name eth0 netns "$out"
  ip -n "$node" addr add 192.0.2.1/24 dev to-out; ip -n "$node" link set to-out up
  ip -n "$out" addr add 192.0.2.2/24 dev eth0; ip -n "$out" link set eth0 up
  data=/tmp/ipam-$backend
  conf='{"cniVersion":"1.0.0","name":"vmnet","type":"tsbridge","bridge":"tsbvm0",
    "isGateway":true,"isDefaultGateway":true,"ipMasq":true,"ipMasqBackend":"'$backend'",
    "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},
    "ipam":{"type":"host-local","dataDir":"'$data'","ranges":[[{"subnet":"10.99.0.0/24"}]]}}'
  res=$(cni "$node" ADD c1 "/run/netns/$pod" "$conf")
  ip=$(echo "$res" | sed -n 's/.*"address": *"\([0-9.]*\)\/24".*/\1/p' | head -n 1)
  if [ -n "$ip" ]; then ok "$backend: ADD gives an address ($ip)"
  else notok "$backend: ADD gives an address" "$res"; fi
  check "$backend: pod reaches its gateway" ip netns exec "$pod" ping -c 1 -W 3 10.99.0.1
  peer_server "$out" 80
  seen=$(peer_seen "$pod" 192.0.2.2:80)
  [ "$seen" = 192.0.2.1 ] && ok "$backend: outside host sees the node address (masquerade)" ||
    notok "$backend: outside host sees the node address (masquerade)" "saw: $seen"
  peer_server "$pod" 80
  seen=$(peer_seen "$out" 192.0.2.1:8080)
  [ "$seen" = 192.0.2.2 ] && ok "$backend: published port answers with the client's address" ||
    notok "$backend: published port answers with the client's address" "saw: $seen"
  chk="${conf%\}},\"prevResult\":$res}"
  check "$backend: CHECK" cni "$node" CHECK c1 "/run/netns/$pod" "$chk"
  del=$(cni "$node" DEL c1 "/run/netns/$pod" "$conf") && ok "$backend: DEL" || notok "$backend: DEL" "$del"
  left=$( (
    ip -n "$node" -o link show type veth | grep -v to-out
    ls "$data/vmnet" | grep -v -e lock -e last_reserved -e boot
    ip netns exec "$node" iptables-save 2>/dev/null | grep -e c1 -e 8080
    ip netns exec "$node" nft list ruleset 2>/dev/null | grep -e c1 -e 8080
  ) 2>&1)
  [ -z "$left" ] && ok "$backend: nothing left after DEL" || notok "$backend: nothing left after DEL" "$left"
  killall httpd
  cleanup
done
