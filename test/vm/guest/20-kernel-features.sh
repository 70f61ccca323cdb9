# What this kernel offers that the development machine's lacks: bridge VLAN filtering and 802.1Q.
. /tests/lib.sh
mkns vm-feat
check "bridge with vlan_filtering can be created" ip -n vm-feat link add vfbr0 type bridge vlan_filtering 1
check "802.1Q sub-interface can be created" ip -n vm-feat link add link vfbr0 name vfbr0.10 type vlan id 10
cleanup
