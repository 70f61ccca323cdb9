# Helpers for the guest test scripts (busybox sh). Every namespace a script makes is removed by
# cleanup, which the scripts run on exit.
TSB=/opt/cni/bin/tsbridge
# busybox-static's shell runs its own applets before PATH: use iproute2's ip, not busybox's
ip() { /sbin/ip "$@"; }
NSS=""
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
check() { # check NAME COMMAND...: ok when the command succeeds
  local _name=$1 _out; shift
  if _out=$("$@" 2>&1); then ok "$_name"; else notok "$_name" "$(echo "$_out" | tail -n 5)"; fi
}
check_not() { # check_not NAME COMMAND...: ok when the command fails (what must stay impossible)
  local _name=$1; shift
  if "$@" >/dev/null 2>&1; then notok "$_name"; else ok "$_name"; fi
}
mkns() { ip netns add "$1" && ip -n "$1" link set lo up && NSS="$1 $NSS"; }
cleanup() { for n in $NSS; do ip netns del "$n" 2>/dev/null; done; NSS=""; }
trap cleanup EXIT
# cni NODE_NS COMMAND CONTAINERID NETNS_PATH CONF: run tsbridge as a runtime does
cni() {
  echo "$5" | CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_NETNS=$4 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    ip netns exec "$1" "${PLUGIN:-$TSB}"
}
# a tiny web server in NS on PORT whose /cgi-bin/ip answers the client address it sees
peer_server() {
  mkdir -p "/tmp/www-$1/cgi-bin"
  printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n' > "/tmp/www-$1/cgi-bin/ip"
  chmod +x "/tmp/www-$1/cgi-bin/ip"
  ip netns exec "$1" httpd -p "$2" -h "/tmp/www-$1"
}
# (busybox-static's wget crashes in glibc's NSS lookups; a raw request through nc does not need them)
peer_seen() {
  printf 'GET /cgi-bin/ip HTTP/1.0\r\n\r\n' | ip netns exec "$1" nc -w 5 "${2%:*}" "${2##*:}" 2>&1 |
    tail -n 1 | sed "s/^\[::ffff://; s/\]\$//"
}
