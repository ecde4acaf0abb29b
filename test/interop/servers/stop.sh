#!/usr/bin/env bash
# Stop every server that start.sh started from STATE_DIR (via the pid files in
# STATE_DIR/run).  Already-dead processes and a missing STATE_DIR are ignored.
#
#   stop.sh STATE_DIR
set -euo pipefail

RG_SCRIPT=stop.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$#" -eq 1 ] || rg_die "usage: stop.sh STATE_DIR"
STATE=$(rg_state_dir "$1")
[ -d "$STATE" ] || exit 0
rg_stop_all "$STATE"
left=()
for f in "$STATE"/run/*.pid; do
    [ -e "$f" ] && left+=("$f")
done
[ "${#left[@]}" -eq 0 ] || rg_die "could not stop: ${left[*]}"
exit 0
