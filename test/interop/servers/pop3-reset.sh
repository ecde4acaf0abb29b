#!/usr/bin/env bash
# Restore the POP3 test mailboxes of a running (or stopped) start.sh instance
# to their initial state: one message per user and instance
#   A/alice "hello alice from A" (body contains ".dotted line"), A/bob "hello bob from A",
#   B/bob "hello bob from B", B/alice "hello alice from B".
# Safe while dovecot runs, as long as no POP3 session is open at that moment.
#
#   pop3-reset.sh STATE_DIR
set -euo pipefail

RG_SCRIPT=pop3-reset.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$#" -eq 1 ] || rg_die "usage: pop3-reset.sh STATE_DIR"
STATE=$(rg_state_dir "$1")
[ "$(id -u)" -eq 0 ] || rg_die "must be run as root (mailboxes belong to $RG_MAIL_USER)"
[ -d "$STATE/pop3-a/mail" ] && [ -d "$STATE/pop3-b/mail" ] \
    || rg_die "$STATE has no POP3 mail directories - run start.sh $STATE first"
getent passwd "$RG_MAIL_USER" >/dev/null || rg_die "user $RG_MAIL_USER missing - run start.sh first"
rg_pop3_reset "$STATE"
