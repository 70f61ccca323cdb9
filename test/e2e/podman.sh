#!/usr/bin/env bash
# e2e: podman 4.x with its CNI backend drives tsbridge. podman runs with its own storage, run
# and tmp dirs and a containers.conf (CONTAINERS_CONF) that selects the CNI backend and points it at
# our CNI bin and conf dirs. The container runs from a plain rootfs dir (`--rootfs`), no image
# store, no registry. For each cniVersion in E2E_CNI_VERSIONS (default "0.4.0 1.0.0"; podman
# itself writes 0.4.0 conflists): the container gets its IP, pings the gateway, the node fetches
# a page from busybox httpd in it, directly and through a published port (-p, portmap), and
# after `podman rm -f` no IP file, veth or rule is left. Ends with "podman: N passed, M failed".
source "$(dirname "$0")/lib.sh"
E2E_NAME=podman
[ -n "${E2E_INNER:-}" ] ||
  need_packages podman runc conmon busybox-static containernetworking-plugins iptables nftables iproute2
enter_node podman

node_setup
P=$W/podman
mkdir -p "$P/net.d" "$P/tmp"
cat >"$P/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
runtime = "runc"
tmp_dir = "$P/tmp"
volume_path = "$P/volumes"
[network]
network_backend = "cni"
cni_plugin_dirs = ["$W/cni/bin"]
network_config_dir = "$P/net.d"
default_network = "tsbe2e-podman"
EOF
export CONTAINERS_CONF=$P/containers.conf
pm() { podman --root "$P/root" --runroot "$P/runroot" --storage-driver vfs "$@"; }
inner_cleanup() {
  local c
  for c in $(pm ps -aq 2>/dev/null); do pm rm -f -t 0 "$c" >/dev/null 2>&1; done
}
trap inner_cleanup EXIT
in_ctr_grep() { local c=$1 pat=$2; shift 2; pm exec "$c" "$@" | has "$pat"; }
network_listed() { pm network ls --format '{{.Name}}' | has -x tsbe2e-podman; }
port_closed() { ! timeout 10 "$W/rootfs/bin/busybox" wget -q -O - "$1"; }

make_rootfs
# podman's limits: this machine has no CAP_SYS_RESOURCE, so the default rlimits cannot be raised
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
HOSTPORT=18080

n=0
for ver in ${E2E_CNI_VERSIONS:-0.4.0 1.0.0}; do
  n=$((n + 1))
  name=web$n
  rm -f "$P/net.d"/*.conflist
  write_conflist "$P/net.d/tsbe2e-podman.conflist" "$ver" tsbe2e-podman '{ "type": "firewall" }, { "type": "tuning" }'
  rotate_trace "$ver"
  check "[$ver] podman lists network tsbe2e-podman" network_listed
  cp -a "$W/rootfs" "$W/rootfs-$name"
  log "cniVersion $ver: podman run $name"
  check "[$ver] podman run -d --network tsbe2e-podman -p $HOSTPORT:8080" \
    pm run -d --name "$name" --network tsbe2e-podman -p "$HOSTPORT:8080" "${LIMITS[@]}" \
    --rootfs "$W/rootfs-$name" /bin/httpd -f -p 8080 -h /www
  ip=$(pm inspect "$name" --format '{{(index .NetworkSettings.Networks "tsbe2e-podman").IPAddress}}' 2>/dev/null)
  check "[$ver] podman reports an IPv4 address in $SUBNET_PREFIX.0/24 ($ip)" test "${ip%.*}" = "$SUBNET_PREFIX"
  check "[$ver] the container's eth0 has that address" in_ctr_grep "$name" "inet $ip/24" ip -4 addr show dev eth0
  check "[$ver] container default route via $GATEWAY" in_ctr_grep "$name" "default via $GATEWAY" ip route
  check "[$ver] container pings the gateway" pm exec "$name" ping -c 1 -W 3 "$GATEWAY"
  check "[$ver] node fetches the page from httpd in the container" page_ok "http://$ip:8080/"
  check "[$ver] published port: node fetches the page via 127.0.0.1:$HOSTPORT" page_ok "http://127.0.0.1:$HOSTPORT/"
  check "[$ver] published port: node fetches the page via $GATEWAY:$HOSTPORT" page_ok "http://$GATEWAY:$HOSTPORT/"
  veth=$(host_veths)
  check "[$ver] host veth ($veth) is on bridge tsbe2e0" on_bridge "$veth"
  check "[$ver] one IP reservation file" test "$(ipam_files | wc -l)" = 1
  tcheck "[$ver] ADD got CNI_ARGS with IgnoreUnknown and K8S_POD_NAME" \
    traced ADD '^CNI_ARGS=.*IgnoreUnknown=1.*K8S_POD_NAME='
  cid=$(pm inspect "$name" --format '{{.Id}}' 2>/dev/null)

  log "cniVersion $ver: podman rm -f $name"
  check "[$ver] podman rm -f" pm rm -f -t 0 "$name"
  tcheck "[$ver] tsbridge got DEL" test "$(trace_count DEL)" -ge 1
  tcheck "[$ver] every tsbridge call succeeded" all_calls_ok
  check_nothing_left "[$ver]" "${ip:-none}" "${cid:-none}"
  check "[$ver] published port closed" port_closed "http://127.0.0.1:$HOSTPORT/"
  rm -rf "$W/rootfs-$name"
done

# a static address: podman passes --ip as CNI_ARGS IP=... (with IgnoreUnknown=1)
name=static
cp -a "$W/rootfs" "$W/rootfs-$name"
rotate_trace static
want=$SUBNET_PREFIX.77
log "podman run --ip $want"
if pm run -d --name "$name" --network tsbe2e-podman --ip "$want" "${LIMITS[@]}" \
  --rootfs "$W/rootfs-$name" /bin/httpd -f -p 8080 -h /www >"$W/static.log" 2>&1; then
  check "--ip $want: the container has it" in_ctr_grep "$name" "inet $want/24" ip -4 addr show dev eth0
  tcheck "--ip $want: CNI_ARGS carried IP=$want" traced ADD "^CNI_ARGS=.*IP=$want"
  check "--ip $want: node fetches the page" page_ok "http://$want:8080/"
  check "--ip: podman rm -f" pm rm -f -t 0 "$name"
  check_nothing_left "--ip" "$want" "none"
else
  # podman refuses before calling any plugin when it cannot read the subnet from the conflist
  if grep -q 'CNI_COMMAND' "$W/trace.log"; then
    check "--ip $want: podman run" false
  else
    why="podman refused it before calling CNI: $(tr '\n' ' ' <"$W/static.log")"
    # the checks the branch above makes, each counted (a failure under CI=true)
    for c in "the container has it" "CNI_ARGS carried IP=$want" "node fetches the page" "podman rm -f" \
      "no IP reservation file left" "no host veth left" "no rule naming $want or the container left"; do
      skip_prereq "--ip $want: $c" "$why"
    done
  fi
  pm rm -f -t 0 "$name" >/dev/null 2>&1
fi
rm -rf "$W/rootfs-$name"
finish
