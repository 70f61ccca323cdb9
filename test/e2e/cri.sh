#!/usr/bin/env bash
# e2e: containerd's CRI plugin drives tsbridge the way kubelet does: RunPodSandbox (with a
# hostPort), CreateContainer + StartContainer (busybox httpd), ExecSync, then StopContainer,
# RemoveContainer, StopPodSandbox (twice, as kubelet may) and RemovePodSandbox, over containerd's
# gRPC socket with test/e2e/cri-client.ts (Debian has no crictl). containerd runs with its own
# root/state/socket and a CRI config pointing at our CNI bin/conf dirs; the sandbox ("pause")
# image is the local busybox image, imported with ctr. For each cniVersion in E2E_CNI_VERSIONS
# (default "1.0.0 0.4.0"): the pod gets its IP, the container pings the gateway, the node fetches a
# page from httpd in it, directly and through the hostPort; after removal no IP file, veth, rule or
# netns is left. Ends with "cri: N passed, M failed".
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/containerd-lib.sh"
E2E_NAME=cri
[ -n "${E2E_INNER:-}" ] ||
  need_packages containerd runc umoci busybox-static containernetworking-plugins iptables nftables iproute2
CRI_JS=$ROOT/build/js/test/e2e/cri-client.js
[ -f "$CRI_JS" ] || { echo "no $CRI_JS: run npx tsc -p . (make compile)" >&2; exit 2; }
enter_node cri

node_setup
trap stop_containerd EXIT
IMAGE=localhost/tsbe2e/busybox:e2e
HOSTPORT=18081
cri() { node "$CRI_JS" --socket "$CTRD/containerd.sock" "$@"; }
# cri_json PATH: the value at a dotted PATH in the JSON on stdin (objects as JSON, missing as "")
cri_json() {
  node -e 'const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const v = process.argv[1].split(".").reduce((a, k) => a?.[k], o);
    console.log(typeof v === "object" ? JSON.stringify(v) : v ?? "")' "$1"
}
in_pod_grep() { local c=$1 pat=$2; shift 2; cri exec "$c" "$@" | has "$pat"; }
netns_pins() { find "$CTRD/state" -path '*netns*' -type f 2>/dev/null; }

CRI_TOML=$(cat <<EOF
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$W/cni/bin"
    conf_dir = "$W/cni/net.d"
    max_conf_num = 1
EOF
)
make_image "$IMAGE"

n=0
for ver in ${E2E_CNI_VERSIONS:-1.0.0 0.4.0}; do
  n=$((n + 1))
  rm -f "$W/cni/net.d"/*
  write_conflist "$W/cni/net.d/10-tsbe2e.conflist" "$ver" tsbe2e-cri '{ "type": "firewall" }, { "type": "tuning" }'
  rotate_trace "$ver"
  log "cniVersion $ver: start containerd with CRI"
  start_containerd "$CRI_TOML" || { FAILED=$((FAILED + 1)); break; }
  if [ $n = 1 ]; then
    check "image imported into k8s.io" ctrc -n k8s.io images import --base-name localhost/tsbe2e/busybox "$W/image.tar"
  fi
  check "[$ver] CRI Version answers (containerd)" in_grep containerd cri version

  uid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$W/pods/web$n"
  cat >"$W/pod$n.json" <<EOF
{ "name": "web$n", "namespace": "tsbe2e", "uid": "$uid", "hostname": "web$n",
  "logDirectory": "$W/pods/web$n", "labels": { "app": "web" },
  "portMappings": [{ "protocol": "TCP", "containerPort": 8080, "hostPort": $HOSTPORT }] }
EOF
  cat >"$W/ctr$n.json" <<EOF
{ "name": "httpd", "image": "$IMAGE", "logPath": "httpd.log",
  "command": ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"] }
EOF
  log "cniVersion $ver: RunPodSandbox web$n"
  pod=$(cri runp "$W/pod$n.json" 2>"$W/runp.err")
  check "[$ver] RunPodSandbox" test -n "$pod" || cat "$W/runp.err"
  ip=$(cri inspectp "$pod" 2>/dev/null | cri_json ip)
  check "[$ver] PodSandboxStatus reports an IPv4 address in $SUBNET_PREFIX.0/24 ($ip)" \
    test "${ip%.*}" = "$SUBNET_PREFIX"
  for kv in IgnoreUnknown=1 K8S_POD_NAMESPACE=tsbe2e K8S_POD_NAME=web$n \
    K8S_POD_INFRA_CONTAINER_ID=$pod K8S_POD_UID=$uid; do
    tcheck "[$ver] ADD got CNI_ARGS ${kv%%=*}" traced ADD "^CNI_ARGS=(.*;)?$kv(;|\$)"
  done
  tcheck "[$ver] CNI_CONTAINERID is the sandbox id" traced ADD "^CNI_CONTAINERID=$pod\$"

  ctr=$(cri create "$pod" "$W/ctr$n.json" "$W/pod$n.json" 2>"$W/create.err")
  check "[$ver] CreateContainer httpd" test -n "$ctr" || cat "$W/create.err"
  check "[$ver] StartContainer httpd" cri start "$ctr"
  check "[$ver] the container's eth0 has $ip" in_pod_grep "$ctr" "inet $ip/24" ip -4 addr show dev eth0
  check "[$ver] container default route via $GATEWAY" in_pod_grep "$ctr" "default via $GATEWAY" ip route
  check "[$ver] container pings the gateway (ExecSync)" cri exec "$ctr" ping -c 1 -W 3 "$GATEWAY"
  check "[$ver] node fetches the page from httpd in the pod" page_ok "http://$ip:8080/"
  check "[$ver] hostPort: node fetches the page via 127.0.0.1:$HOSTPORT" page_ok "http://127.0.0.1:$HOSTPORT/"
  check "[$ver] hostPort: node fetches the page via $GATEWAY:$HOSTPORT" page_ok "http://$GATEWAY:$HOSTPORT/"
  veth=$(host_veths)
  check "[$ver] host veth ($veth) is on bridge tsbe2e0" on_bridge "$veth"
  check "[$ver] one IP reservation file" test "$(ipam_files | wc -l)" = 1

  log "cniVersion $ver: StopContainer, RemoveContainer, StopPodSandbox x2, RemovePodSandbox"
  check "[$ver] StopContainer" cri stop "$ctr"
  check "[$ver] RemoveContainer" cri rm "$ctr"
  check "[$ver] StopPodSandbox" cri stopp "$pod"
  check "[$ver] StopPodSandbox again" cri stopp "$pod"
  check "[$ver] RemovePodSandbox" cri rmp "$pod"
  tcheck "[$ver] tsbridge got DEL (count $(trace_count DEL))" test "$(trace_count DEL)" -ge 1
  tcheck "[$ver] every tsbridge call succeeded" all_calls_ok
  tcheck "[$ver] a later DEL came with an empty CNI_NETNS (and succeeded)" traced DEL '^CNI_NETNS=$'
  check_nothing_left "[$ver]" "${ip:-none}" "${pod:-none}"
  check "[$ver] no pod netns left" test -z "$(netns_pins)"
  stop_containerd
done
finish
