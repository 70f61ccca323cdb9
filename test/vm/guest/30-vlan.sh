# VLANs on one bridge, for real: two containers on VLAN 10 and one on VLAN 20, all in the same
# subnet (only the VLAN keeps them apart); a trunk port carrying VLAN 10 (and 30-31) tagged; the
# gateway on <bridge>.<vlan> with isGateway; DEL leaves no VLAN entry; the reference 1.1.1 side by side.
. /tests/lib.sh
bridge() { /sbin/bridge "$@"; }
node=vl-node
mkns "$node"; for p in a b c d t g r p1; do mkns "vl-$p"; done
data=/tmp/ipam-vlan
conf() { # conf VLAN-KEYS [BRIDGE SUBNET EXTRA]
  echo '{"cniVersion":"1.0.0","name":"vlnet-'"${2:-vlbr0}"'","type":"tsbridge",
    "bridge":"'"${2:-vlbr0}"'",'"$1"','"${4:-}"'
    "ipam":{"type":"host-local","dataDir":"'$data'","ranges":[[{"subnet":"'"${3:-10.98.0.0/24}"'"}]]}}'
}
addr_of() { echo "$1" | sed -n 's/.*"address": *"\([0-9.]*\)\/24".*/\1/p' | head -n 1; }
veth_of() { echo "$1" | tr '{' '\n' | sed -n 's/.*"name": *"\(veth[0-9a-f]*\)".*/\1/p' | head -n 1; }
# `bridge vlan show dev X` as "vid flags" words, one entry per line ("10 PVID Egress Untagged")
vlans_of() {
  bridge -n "$node" vlan show dev "$1" | sed 's/^[^ 0-9][^ ]*//' | awk 'NF && $1 ~ /^[0-9]/ { $1=$1; print }'
}
trunk='"vlanTrunk":[{"id":10},{"minID":30,"maxID":31}]'
gwkeys='"isGateway":true,"isDefaultGateway":true,'

ra=$(cni "$node" ADD ca /run/netns/vl-a "$(conf '"vlan":10')"); a=$(addr_of "$ra"); va=$(veth_of "$ra")
rb=$(cni "$node" ADD cb /run/netns/vl-b "$(conf '"vlan":10')"); b=$(addr_of "$rb"); vb=$(veth_of "$rb")
rc=$(cni "$node" ADD cc /run/netns/vl-c "$(conf '"vlan":20')"); c=$(addr_of "$rc"); vc=$(veth_of "$rc")
if [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ]; then ok "ADD on VLAN 10, 10, 20 ($a $b $c)"
else notok "ADD on VLAN 10, 10, 20" "$ra" "$rb" "$rc"; fi
filt=$(ip -n "$node" -d link show vlbr0 | grep -o 'vlan_filtering [01]')
[ "$filt" = "vlan_filtering 1" ] && ok "the bridge filters VLANs" || notok "the bridge filters VLANs" "$filt"
got=$(vlans_of "$va")
[ "$got" = "10 PVID Egress Untagged" ] && ok "port of a: VLAN 10 PVID untagged, VLAN 1 removed" ||
  notok "port of a: VLAN 10 PVID untagged, VLAN 1 removed" "$got"
check "VLAN 10 pair: a reaches b" ip netns exec vl-a ping -c 1 -W 2 "$b"
check "VLAN 10 pair: b reaches a" ip netns exec vl-b ping -c 1 -W 2 "$a"
check_not "VLAN 20 cannot reach VLAN 10 (c -> a)" ip netns exec vl-c ping -c 1 -W 2 "$a"
check_not "VLAN 10 cannot reach VLAN 20 (a -> c)" ip netns exec vl-a ping -c 1 -W 2 "$c"
rd=$(cni "$node" ADD cd /run/netns/vl-d "$(conf '"vlan":20')"); d=$(addr_of "$rd"); vd=$(veth_of "$rd")
check "VLAN 20 pair: c reaches d (c's own network works)" ip netns exec vl-c ping -c 1 -W 2 "$d"
chk=$(conf '"vlan":10'); chk="${chk%\}},\"prevResult\":$ra}"
check "CHECK of a" cni "$node" CHECK ca /run/netns/vl-a "$chk"
# break it: the port loses VLAN 10, CHECK must say so
bridge -n "$node" vlan del dev "$va" vid 10
if out=$(cni "$node" CHECK ca /run/netns/vl-a "$chk" 2>&1); then notok "CHECK names a lost VLAN" "$out"
elif echo "$out" | grep -q "not an untagged PVID member of VLAN 10"; then ok "CHECK names a lost VLAN"
else notok "CHECK names a lost VLAN" "$out"; fi
bridge -n "$node" vlan add dev "$va" vid 10 pvid untagged

# trunk: VLAN 10 and 30-31 tagged; a VLAN sub-interface in the container receives VLAN 10 only
rt=$(cni "$node" ADD ct /run/netns/vl-t "$(conf "$trunk")"); vt=$(veth_of "$rt")
got=$(vlans_of "$vt" | tr '\n' ',')
[ "$got" = "1 PVID Egress Untagged,10,30,31," ] && ok "trunk port: 10, 30, 31 tagged, native VLAN 1" ||
  notok "trunk port: 10, 30, 31 tagged, native VLAN 1" "$got"
ip -n vl-t link add link eth0 name eth0.10 type vlan id 10; ip -n vl-t addr flush dev eth0
ip -n vl-t addr add 10.98.0.200/24 dev eth0.10; ip -n vl-t link set eth0.10 up
check "trunk: eth0.10 in the container reaches a (VLAN 10, tagged on the trunk)" ip netns exec vl-t ping -c 1 -W 2 "$a"
ip -n vl-t link del eth0.10
ip -n vl-t link add link eth0 name eth0.20 type vlan id 20
ip -n vl-t addr add 10.98.0.200/24 dev eth0.20; ip -n vl-t link set eth0.20 up
check_not "trunk: eth0.20 cannot reach c (VLAN 20 is not on the trunk)" ip netns exec vl-t ping -c 1 -W 2 "$c"
# control: with VLAN 20 added to the trunk port by hand, the same sub-interface does reach c
bridge -n "$node" vlan add dev "$vt" vid 20 || notok "bridge vlan add dev $vt vid 20"
ip -n vl-t neigh flush all; ip -n vl-c neigh flush all
if ip netns exec vl-t ping -c 3 -W 3 "$c" >/dev/null 2>&1; then
  ok "trunk control: with VLAN 20 on the port, eth0.20 reaches c"
else
  notok "trunk control: with VLAN 20 on the port, eth0.20 reaches c" "$(bridge -n "$node" vlan show)" \
    "$(ip -n vl-t addr; ip -n vl-t neigh; ip -n vl-c neigh)"
fi
bridge -n "$node" vlan del dev "$vt" vid 20
ip -n vl-t link del eth0.20

# preserveDefaultVlan keeps VLAN 1 on the port (the reference 1.1.1's port has the same entries)
rp=$(cni "$node" ADD cp1 /run/netns/vl-p1 "$(conf '"vlan":10,"preserveDefaultVlan":true')"); vp=$(veth_of "$rp")
got=$(vlans_of "$vp" | tr '\n' ',')
[ "$got" = "1 Egress Untagged,10 PVID Egress Untagged," ] && ok "preserveDefaultVlan: VLAN 1 kept beside VLAN 10" ||
  notok "preserveDefaultVlan: VLAN 1 kept beside VLAN 10" "$got"

# control: with VLAN filtering off, c reaches a (only the VLANs kept them apart)
ip -n "$node" link set vlbr0 type bridge vlan_filtering 0
check "control: without VLAN filtering c reaches a" ip netns exec vl-c ping -c 1 -W 2 "$a"
ip -n "$node" link set vlbr0 type bridge vlan_filtering 1
before=$(bridge -n "$node" vlan show)
for p in "$va" "$vb" "$vc" "$vd" "$vt" "$vp"; do
  echo "$before" | grep -q "^$p" || notok "VLAN entries of $p before DEL" "$before"
done
for x in "ca vl-a 10" "cb vl-b 10" "cc vl-c 20" "cd vl-d 20" "ct vl-t x" "cp1 vl-p1 10"; do
  set -- $x
  if [ "$3" = x ]; then k=$trunk; else k="\"vlan\":$3"; fi
  cni "$node" DEL "$1" "/run/netns/$2" "$(conf "$k")" >/dev/null || notok "DEL $1"
done
after=$(bridge -n "$node" vlan show 2>&1) || notok "bridge vlan show after DEL" "$after"
left=$(echo "$after" | grep -e "$va" -e "$vb" -e "$vc" -e "$vd" -e "$vt" -e "$vp")
[ -z "$left" ] && ok "DEL leaves no VLAN entry of the containers" ||
  notok "DEL leaves no VLAN entry of the containers" "$left"

# isGateway with a VLAN: the gateway on vlbr1.10, a port of VLAN 10; reference 1.1.1 the same way
rg=$(cni "$node" ADD cg /run/netns/vl-g "$(conf '"vlan":10' vlbr1 10.96.0.0/24 "$gwkeys")")
gwaddr=$(ip -n "$node" -4 -o addr show dev vlbr1.10 2>&1 | awk '{print $4}')
[ "$gwaddr" = 10.96.0.1/24 ] && ok "isGateway: gateway 10.96.0.1 on vlbr1.10" ||
  notok "isGateway: gateway 10.96.0.1 on vlbr1.10" "$gwaddr" "$rg"
echo "$rg" | grep -q '"name": *"vlbr1.10"' && ok "the result lists vlbr1.10" || notok "the result lists vlbr1.10" "$rg"
check "isGateway: the container reaches its gateway through VLAN 10" ip netns exec vl-g ping -c 1 -W 2 10.96.0.1
rconf='{"cniVersion":"0.4.0","name":"vlref","type":"bridge","bridge":"vlbr2","vlan":10,"isGateway":true,
  "ipam":{"type":"host-local","dataDir":"'$data'","ranges":[[{"subnet":"10.95.0.0/24"}]]}}'
rr=$(PLUGIN=/usr/lib/cni/bridge cni "$node" ADD cr /run/netns/vl-r "$rconf")
vr=$(veth_of "$rr")
ref=$(vlans_of "$vr" | tr '\n' ',')
echo "# reference 1.1.1 port: $ref (tsbridge removes VLAN 1 unless preserveDefaultVlan, as upstream since 1.4)"
case "$ref" in
  *"10 PVID Egress Untagged"*) ok "reference 1.1.1: its port is on VLAN 10 PVID untagged too" ;;
  *) notok "reference 1.1.1: its port is on VLAN 10" "$ref" "$rr" ;;
esac
refgw=$(ip -n "$node" -4 -o addr show dev vlbr2.10 2>&1 | awk '{print $4}')
[ "$refgw" = 10.95.0.1/24 ] && ok "reference 1.1.1: gateway on vlbr2.10 too" ||
  notok "reference 1.1.1: gateway on vlbr2.10" "$refgw"
check "reference 1.1.1: its container reaches the gateway" ip netns exec vl-r ping -c 1 -W 2 10.95.0.1
cni "$node" DEL cg /run/netns/vl-g "$(conf '"vlan":10' vlbr1 10.96.0.0/24 "$gwkeys")" >/dev/null || notok "DEL cg"
PLUGIN=/usr/lib/cni/bridge cni "$node" DEL cr /run/netns/vl-r "$rconf" >/dev/null || notok "reference DEL cr"
cleanup
