# shellcheck shell=bash
# Sourced by hack/cluster.sh and hack/node.sh, which each define `die`.

# Polls a command until it succeeds; fails loudly with the last attempt's output.
wait_for() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  "$@" || true
  die "timed out after ${seconds}s waiting for $what"
}
