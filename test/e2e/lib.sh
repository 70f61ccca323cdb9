# Shared by the e2e scripts (sourced). Each script drives tsbridge through one real client
# installed from Debian. Everything runs inside a throwaway "node" network namespace: the
# script re-executes itself there (`ip netns exec`), so the client, its daemons, the bridge,
# the netfilter rules and every container network live on that node and never touch the
# machine's own network. The mount namespace of `ip netns exec` is private too, so the bind
# mounts below (/etc/cni/net.d, /opt/cni/bin for ctr) and the clients' netns pins stay inside.
#
# Checks: `check "what" cmd...` counts a pass or a failure; `skip_check "what" "why"` counts a skip
# (E2E_TRACE=0), `skip_prereq "what" "why"` a skip for something this machine lacks (a failure under
# CI=true, where everything is installed); `finish` prints "N passed, M failed[, K skipped]".
# E2E_KEEP=1 keeps the work dir; E2E_TRACE=0 links tsbridge straight into the CNI bin dir instead of
# through the exec recorder (tsbridge-trace.sh), whose log is printed when a check fails.

set -uo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
# the binary under test: TSBRIDGE_BIN (absolute or relative to the repository root), as test/helpers/paths.ts
TSBRIDGE_BIN=$(cd "$ROOT" && realpath -ms -- "${TSBRIDGE_BIN:-build/bin/tsbridge}")
SUBNET_PREFIX=${SUBNET_PREFIX:-10.211.7}   # the node's pod subnet: $SUBNET_PREFIX.0/24
GATEWAY=$SUBNET_PREFIX.1
PASSED=0
FAILED=0
SKIPPED=0

log() { printf '[%s %s] %s\n' "$E2E_NAME" "$(date +%T)" "$*" >&2; }

check() { # check "description" cmd args...
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then
    PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$what"
  else
    FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$what"
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/     | /' | tail -n 30
    return 1
  fi
}

# has GREP-ARGS: grep reading all its input (grep -q under pipefail can fail the pipe with SIGPIPE)
has() { grep "$@" >/dev/null; }

# skip_check "what" "why": a check not run, counted and printed as skipped (never as a pass)
skip_check() { SKIPPED=$((SKIPPED + 1)); printf 'skip %s: %s\n' "$1" "$2"; }
# skip_prereq "what" "why": a check this machine cannot run; under CI=true that is a failure
skip_prereq() {
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    FAILED=$((FAILED + 1)); printf 'FAIL %s (cannot run under CI=true: %s)\n' "$1" "$2"
  else
    skip_check "$@"
  fi
}

# tcheck: a check that reads the exec recorder's log; counted as skipped with E2E_TRACE=0
tcheck() {
  if [ "${E2E_TRACE:-1}" = 0 ]; then skip_check "$1" "E2E_TRACE=0: no exec recorder"; return 0; fi
  check "$@"
}

# in_grep PATTERN cmd...: cmd's output matches PATTERN
in_grep() { local pat=$1; shift; "$@" | has "$pat"; }

# retry N SECONDS cmd...: run cmd until it succeeds, at most N times, SECONDS apart
retry() { local n=$1 s=$2; shift 2; local i; for ((i = 1; i <= n; i++)); do "$@" && return 0; sleep "$s"; done; "$@"; }

# Install the Debian packages this script needs when missing (fresh machine).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | has 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null ||
      { log "apt-get install failed"; exit 2; }
  fi
}

# ---- outer half: make the node namespace, re-exec inside it, clean up after ----------------

# enter_node NAME: when not yet inside, create netns tsbe2e-NAME-PID, run this script again
# inside it (with the machine's cgroup mounts carried along: `ip netns exec` remounts /sys),
# then remove everything and exit with the inner status. Inside, it returns.
enter_node() {
  E2E_NAME=$1
  if [ -n "${E2E_INNER:-}" ]; then return 0; fi
  [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
  [ -x "$TSBRIDGE_BIN" ] || { echo "no $TSBRIDGE_BIN: run make build" >&2; exit 2; }
  local node=tsbe2e-$E2E_NAME-$$
  local work
  work=$(mktemp -d "/tmp/tsbe2e-$E2E_NAME.XXXXXX")
  local pins_before
  pins_before=$(ls /run/netns 2>/dev/null | sort)
  ip netns add "$node"
  # shellcheck disable=SC2317
  outer_cleanup() {
    local pids
    pids=$(ip netns pids "$node" 2>/dev/null)
    [ -n "$pids" ] && { log "killing processes left in $node: $(echo $pids)"; kill -9 $pids 2>/dev/null; sleep 1; }
    ip netns del "$node" 2>/dev/null
    # netns pins a client made under /run/netns: the mounts lived in the private mount
    # namespace, only the empty files can be left here
    local p
    for p in $(ls /run/netns 2>/dev/null | sort | comm -13 <(echo "$pins_before") -); do
      case $p in cni-*|netns-*) rm -f "/run/netns/$p" ;; esac
    done
    # (the cgroup bind mount lived only in the private mount namespace: never delete through it)
    if [ -n "${E2E_KEEP:-}" ] || mountpoint -q "$work/cgroup"; then log "work dir kept: $work"; else rm -rf "$work"; fi
  }
  trap outer_cleanup EXIT
  trap 'exit 130' INT TERM
  local start=$SECONDS rc
  unshare --mount --propagation private bash -c '
    mkdir -p "$1/cgroup" && mount --rbind /sys/fs/cgroup "$1/cgroup" &&
    exec ip netns exec "$2" env E2E_INNER=1 E2E_WORK="$1" E2E_NODE="$2" bash "$3"' _ "$work" "$node" "$0"
  rc=$?
  log "done in $((SECONDS - start)) s (exit $rc)"
  exit $rc
}

# ---- inner half: on the node ------------------------------------------------------------

# node_setup: lo up, cgroups back, a CNI bin dir (tsbridge + reference plugins) and conf dir
node_setup() {
  W=$E2E_WORK
  NODE=$E2E_NODE
  ip link set lo up
  mount --rbind "$W/cgroup" /sys/fs/cgroup
  mkdir -p "$W/cni/bin" "$W/cni/net.d" "$W/ipam"
  for p in portmap firewall tuning bandwidth loopback host-local bridge; do
    ln -sf "/usr/lib/cni/$p" "$W/cni/bin/$p"
  done
  if [ "${E2E_TRACE:-1}" = 0 ]; then
    ln -sf "$TSBRIDGE_BIN" "$W/cni/bin/tsbridge"
  else
    # exec recorder: same env and stdin, the real binary; appends each call to $W/trace.log
    sed -e "s|@REAL@|$TSBRIDGE_BIN|" -e "s|@LOG@|$W/trace.log|" "$E2E_DIR/tsbridge-trace.sh" >"$W/cni/bin/tsbridge"
    chmod 0755 "$W/cni/bin/tsbridge"
  fi
  sysctl -qw net.ipv4.ip_forward=1
}

# The tsbridge conflist for this node: bridge tsbe2e0, $SUBNET_PREFIX.0/24, + reference plugins.
# write_conflist FILE CNIVERSION NAME [extra plugin objects, comma-separated]
write_conflist() {
  local file=$1 ver=$2 name=$3 extra=${4:-}
  cat >"$file" <<EOF
{
  "cniVersion": "$ver",
  "name": "$name",
  "plugins": [
    {
      "type": "tsbridge",
      "bridge": "tsbe2e0",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$W/ipam",
        "ranges": [[{ "subnet": "$SUBNET_PREFIX.0/24", "gateway": "$GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true }${extra:+,
    $extra}
  ]
}
EOF
}

# A busybox rootfs (Debian's busybox-static) with an index page for httpd: $W/rootfs
make_rootfs() {
  local r=$W/rootfs
  mkdir -p "$r"/{bin,sbin,etc,www,proc,sys,dev,tmp,run,var,root}
  cp /bin/busybox "$r/bin/busybox"
  local a
  for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  echo "hello from tsbridge e2e" >"$r/www/index.html"
}

# make_image REF: the rootfs as an OCI image archive $W/image.tar (umoci), cmd "sleep 86400"
make_image() {
  local ref=$1 oci=$W/oci
  [ -d "$W/rootfs" ] || make_rootfs
  umoci init --layout "$oci" >/dev/null
  umoci new --image "$oci:e2e" >/dev/null
  umoci unpack --image "$oci:e2e" "$W/bundle" >/dev/null
  cp -a "$W/rootfs/." "$W/bundle/rootfs/"
  umoci repack --image "$oci:e2e" "$W/bundle" >/dev/null
  umoci config --image "$oci:e2e" --config.cmd /bin/sleep --config.cmd 86400 --config.workingdir / >/dev/null
  rm -rf "$W/bundle"
  tar -C "$oci" -cf "$W/image.tar" .
  E2E_IMAGE=$ref
}

# What tsbridge left on the node for the attachment: reservation files, host veths, rules
# The readers below fail when their tool fails: a failing reader must never read as "nothing left".
ipam_files() {
  [ -d "$W/ipam" ] || { echo "no IPAM store $W/ipam (wrong dataDir?)" >&2; return 1; }
  find "$W/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' ! -name 'tsbridge-boot*'
}
host_veths() { local o; o=$(ip -o link show type veth) || return 1; awk -F': ' '{print $2}' <<<"$o" | cut -d@ -f1; }
node_rules() { iptables-save && ip6tables-save && nft list ruleset; }

# none_of READER: READER succeeds and prints nothing (what it printed is shown otherwise)
none_of() { local o; o=$("$@") || { echo "$* failed"; return 1; }; [ -z "$o" ] || { printf '%s\n' "$o"; return 1; }; }
rules_free_of() {
  local r
  r=$(node_rules) || { echo 'reading the rules failed'; return 1; }
  ! has -E -e "$1" -e "$2" <<<"$r"
}

check_nothing_left() { # check_nothing_left WHAT IP CONTAINERID
  local what=$1 ip=$2 cid=${3:-no-such-container-id}
  check "$what: no IP reservation file left" none_of ipam_files
  check "$what: no host veth left" none_of host_veths
  check "$what: no rule naming $ip or the container left" rules_free_of "${ip//./\\.}([^0-9]|\$)" "$cid"
}

# http_get URL: body of an HTTP GET from the node (busybox wget; its -T segfaults in 1.35)
http_get() { timeout 10 "$W/rootfs/bin/busybox" wget -q -O - "$1"; }

page_ok() { [ "$(retry 10 0.3 http_get "$1")" = 'hello from tsbridge e2e' ]; }
on_bridge() { ip -o link show dev "$1" | has 'master tsbe2e0'; }

# traced COMMAND REGEX: some recorded tsbridge call with CNI_COMMAND=COMMAND has a line matching REGEX
traced() { trace_calls "$1" | has -E "$2"; }
# trace_calls COMMAND: the recorded calls with that CNI_COMMAND (blocks from the trace log)
trace_calls() {
  awk -v c="CNI_COMMAND=$1" '
    /^=== / { if (b ~ ("\n" c "\n")) printf "%s", b; b = "" }
    { b = b $0 "\n" }
    END { if (b ~ ("\n" c "\n")) printf "%s", b }' "$W/trace.log"
}
trace_count() { grep -c "^CNI_COMMAND=$1\$" "$W/trace.log" 2>/dev/null || true; }
all_calls_ok() { ! grep -E '^=== .* rc [1-9]' "$W/trace.log"; }

# rotate_trace TAG: start a fresh $W/trace.log; the previous one is kept as trace-<n>-TAG.log
TRACE_N=0
TRACE_TAG=start
rotate_trace() {
  [ -s "$W/trace.log" ] && mv "$W/trace.log" "$W/trace-$TRACE_N-$TRACE_TAG.log"
  TRACE_N=$((TRACE_N + 1)); TRACE_TAG=$1
  : >"$W/trace.log"
}

finish() {
  if [ "$FAILED" -gt 0 ]; then
    local f
    for f in "$W"/trace-*.log "$W/trace.log"; do
      [ -s "$f" ] || continue
      echo "---- tsbridge calls recorded in $(basename "$f") (env, stdin, stdout) ----"
      cat "$f"
    done
  fi
  echo "$E2E_NAME: $PASSED passed, $FAILED failed$([ "$SKIPPED" -gt 0 ] && echo ", $SKIPPED skipped")"
  [ "$FAILED" -eq 0 ]
}
