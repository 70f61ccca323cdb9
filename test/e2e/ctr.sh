#!/usr/bin/env bash
# e2e: containerd's `ctr run --cni` drives tsbridge. ctr hard-codes its CNI dirs
# (/etc/cni/net.d, plugins in /opt/cni/bin then /usr/lib/cni), so on the node (a private mount
# namespace) our own dirs are bind-mounted there. ctr ADDs with CNI_NETNS=/proc/PID/ns/net and, when
# the task exits, DELs with an empty CNI_NETNS. For each cniVersion in E2E_CNI_VERSIONS
# (default "1.0.0 0.4.0"): the container gets its IP, pings the gateway, the node fetches a page
# from busybox httpd in it; after the task is killed, no IP file, veth or rule is left.
# ctr has no port publishing, so no hostPort check here. Ends with "ctr: N passed, M failed".
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/containerd-lib.sh"
E2E_NAME=ctr
[ -n "${E2E_INNER:-}" ] ||
  need_packages containerd runc umoci busybox-static containernetworking-plugins iptables nftables iproute2
enter_node ctr

node_setup
CREATED=()
inner_cleanup() {
  stop_containerd
  umount /etc/cni/net.d /opt/cni/bin 2>/dev/null
  local d
  for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do rmdir "${CREATED[$i]}" 2>/dev/null; done
}
trap inner_cleanup EXIT
for d in /etc/cni /etc/cni/net.d /opt/cni /opt/cni/bin; do
  [ -d "$d" ] || { mkdir "$d" && CREATED+=("$d"); }
done
mount --bind "$W/cni/net.d" /etc/cni/net.d
mount --bind "$W/cni/bin" /opt/cni/bin

CTRD_DISABLED='["io.containerd.grpc.v1.cri"]'
start_containerd || { FAILED=1; finish; exit 1; }
make_image localhost/tsbe2e/busybox:e2e
check "image imported" ctrc -n tsbe2e images import --base-name localhost/tsbe2e/busybox "$W/image.tar"
image_listed() { ctrc -n tsbe2e images ls -q | has -x 'localhost/tsbe2e/busybox:e2e'; }
check "image listed" image_listed

in_task_grep() { local id=$1 pat=$2; shift 2; ctrc -n tsbe2e tasks exec --exec-id "x$RANDOM" "$id" "$@" | has "$pat"; }
container_gone() { ! ctrc -n tsbe2e containers ls -q | has -x "$1"; }

n=0
for ver in ${E2E_CNI_VERSIONS:-1.0.0 0.4.0}; do
  n=$((n + 1))
  id=web$n
  rm -f /etc/cni/net.d/*
  write_conflist "/etc/cni/net.d/10-tsbe2e.conflist" "$ver" tsbe2e-ctr '{ "type": "firewall" }, { "type": "tuning" }'
  rotate_trace "$ver"
  log "cniVersion $ver: ctr run --cni $id"
  # foreground ctr (in the background of this shell): it DELs the network when the task exits
  ctrc -n tsbe2e run --rm --cni localhost/tsbe2e/busybox:e2e "$id" /bin/httpd -f -p 8080 -h /www \
    >"$W/ctr-$id.log" 2>&1 &
  ctr_pid=$!
  # RUNNING only after ctr's CNI setup (every plugin) returned: the task exists, CREATED, before
  for ((i = 0; i < 100; i++)); do
    [ "$(ctrc -n tsbe2e tasks ls 2>/dev/null | awk -v id="$id" '$1 == id {print $3}')" = RUNNING ] && break
    sleep 0.1
  done
  ip=$(ctrc -n tsbe2e tasks exec --exec-id ip "$id" ip -4 -o addr show dev eth0 2>/dev/null |
    awk '{print $4}' | cut -d/ -f1)
  check "[$ver] container has an IPv4 address in $SUBNET_PREFIX.0/24 ($ip)" test "${ip%.*}" = "$SUBNET_PREFIX"
  tcheck "[$ver] ADD got CNI_NETNS=/proc/<pid>/ns/net" traced ADD '^CNI_NETNS=/proc/[0-9]+/ns/net$'
  check "[$ver] container default route via $GATEWAY" in_task_grep "$id" "default via $GATEWAY" ip route
  check "[$ver] container pings the gateway" ctrc -n tsbe2e tasks exec --exec-id ping "$id" ping -c 1 -W 3 "$GATEWAY"
  check "[$ver] node fetches the page from httpd in the container" page_ok "http://$ip:8080/"
  veth=$(host_veths)
  check "[$ver] host veth ($veth) is on bridge tsbe2e0" on_bridge "$veth"
  check "[$ver] one IP reservation file" test "$(ipam_files | wc -l)" = 1

  ctrc -n tsbe2e tasks kill -s SIGKILL "$id" >/dev/null 2>&1
  for ((i = 0; i < 100; i++)); do kill -0 "$ctr_pid" 2>/dev/null || break; sleep 0.1; done
  wait "$ctr_pid" 2>/dev/null
  check "[$ver] ctr removed the container" container_gone "$id"
  tcheck "[$ver] DEL came with an empty CNI_NETNS" traced DEL '^CNI_NETNS=$'
  tcheck "[$ver] every tsbridge call succeeded" all_calls_ok
  check_nothing_left "[$ver]" "${ip:-none}" "tsbe2e-$id"
  [ "$FAILED" -gt 0 ] && { echo "---- ctr output ----"; cat "$W/ctr-$id.log"; }
done
finish
