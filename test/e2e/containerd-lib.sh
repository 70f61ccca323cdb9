# containerd for the e2e scripts (sourced after lib.sh, on the node): its own root, state,
# socket and config in $W/containerd, started in the background and stopped by stop_containerd.
# start_containerd [EXTRA_TOML]: EXTRA_TOML is appended to the config (the CRI section).

CTRD=""
CTRD_PID=""

start_containerd() {
  CTRD=$W/containerd
  mkdir -p "$CTRD"
  cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
${CTRD_DISABLED:+disabled_plugins = $CTRD_DISABLED}
[grpc]
  address = "$CTRD/containerd.sock"
[ttrpc]
  address = "$CTRD/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
${1:-}
EOF
  containerd --config "$CTRD/config.toml" >"$CTRD/containerd.log" 2>&1 &
  CTRD_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    ctr --address "$CTRD/containerd.sock" version >/dev/null 2>&1 && return 0
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.2
  done
  log "containerd did not start:"; tail -n 20 "$CTRD/containerd.log" >&2
  return 1
}

ctrc() { ctr --address "$CTRD/containerd.sock" "$@"; }

# Kill every task left in namespace $1, then containerd itself (its shims exit with their tasks).
stop_containerd() {
  [ -n "$CTRD_PID" ] || return 0
  local ns t
  for ns in $(ctrc namespaces ls -q 2>/dev/null); do
    for t in $(ctrc -n "$ns" tasks ls -q 2>/dev/null); do
      ctrc -n "$ns" tasks kill -s SIGKILL "$t" >/dev/null 2>&1
      ctrc -n "$ns" tasks rm -f "$t" >/dev/null 2>&1
    done
  done
  kill "$CTRD_PID" 2>/dev/null
  wait "$CTRD_PID" 2>/dev/null
  CTRD_PID=""
}
