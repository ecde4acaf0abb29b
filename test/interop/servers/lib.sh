# shellcheck shell=bash
# Shared helpers for start.sh / stop.sh / pop3-reset.sh.  Source, don't run.

RG_MAIL_USER=roamgate-mail
RG_MAIL_HOME=/var/lib/roamgate-mail

rg_die() { echo "${RG_SCRIPT:-roamgate-servers}: ERROR: $*" >&2; exit 1; }

# rg_state_dir ARG: validate and print the absolute STATE_DIR.
rg_state_dir() {
    local d=${1:-}
    [ -n "$d" ] || rg_die "usage: $RG_SCRIPT STATE_DIR"
    case "$d" in /*) ;; *) d="$PWD/$d" ;; esac
    # strip trailing slashes (but keep "/")
    while [ "${#d}" -gt 1 ] && [ "${d%/}" != "$d" ]; do d=${d%/}; done
    [ "$d" != / ] || rg_die "STATE_DIR must not be /"
    printf '%s\n' "$d"
}

# ---------------------------------------------------------------- processes --
# Pid files live in $STATE/run/<name>.pid and hold "PID EXE".  Every server is
# started with setsid, so PID is also its process-group id; stopping kills the
# whole group (dovecot/smtpd/innd children, nnrpd reader sessions).

# rg_pid_alive PIDFILE -> prints pid if the recorded process is still the same
# program, returns 1 otherwise.
rg_pid_alive() {
    local f=$1 pid exe cur
    [ -s "$f" ] || return 1
    read -r pid exe <"$f" || true
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    [ -d "/proc/$pid" ] || return 1
    if [ -n "${exe:-}" ]; then
        cur=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
        # a zombie/exiting process has no exe link; treat as dead
        [ -n "$cur" ] || return 1
        [ "${cur% (deleted)}" = "$exe" ] || return 1
    fi
    printf '%s\n' "$pid"
}

# rg_orphan_group PIDFILE -> prints the recorded pid if that process is gone
# (or a zombie) but its process group still has live members.  The group id
# cannot have been recycled while the group exists, so they are ours.
rg_orphan_group() {
    local f=$1 pid st=""
    [ -s "$f" ] || return 1
    read -r pid _ <"$f" || true
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    if [ -r "/proc/$pid/stat" ]; then
        st=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null || true)
        case "$st" in Z | X | "") ;; *) return 1 ;; esac
    fi
    [ -n "$(rg_live_groups "$pid")" ] || return 1
    printf '%s\n' "$pid"
}

# rg_live_groups PGID...: print those PGIDs that still have a live
# (non-zombie) member.  Zombies are ignored: in containers PID 1 may reap them
# only after a while, and they hold no sockets.
rg_live_groups() {
    local want=" $* "
    ps -e -o pgid=,stat= 2>/dev/null | while read -r pg st; do
        case "$st" in Z* | X*) continue ;; esac
        case "$want" in *" $pg "*) echo "$pg" ;; esac
    done | sort -u
}

# rg_stop_pidfiles PIDFILE...: TERM the process groups of all recorded
# processes at once, wait up to RG_STOP_GRACE tenths of a second (default 5),
# then KILL whatever is left.  (State is
# thrown away on the next start anyway; dovecot/smtpd/squid need ~2 s for a
# graceful exit and innd ignores TERM, so waiting longer only slows tests.)
rg_stop_pidfiles() {
    local grace=${RG_STOP_GRACE:-5} f pid i pids=() left=""
    for f in "$@"; do
        if pid=$(rg_pid_alive "$f"); then
            pids+=("$pid")
        elif pid=$(rg_orphan_group "$f"); then
            # leader gone but children left (e.g. nnrpd after innd died)
            pids+=("$pid")
        else
            continue
        fi
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        left="${pids[*]}"
        for i in $(seq 1 "$grace"); do
            left=$(rg_live_groups "${pids[@]}")
            [ -z "$left" ] && break
            sleep 0.1
        done
        if [ -n "$left" ]; then
            for pid in $left; do
                kill -KILL -- "-$pid" 2>/dev/null || true
            done
            for i in $(seq 1 30); do
                left=$(rg_live_groups $left)
                [ -z "$left" ] && break
                sleep 0.1
            done
        fi
    fi
    for f in "$@"; do
        rg_pid_alive "$f" >/dev/null || rm -f "$f"
    done
}

rg_stop_all() {
    local state=$1 f files=()
    [ -d "$state/run" ] || return 0
    for f in "$state"/run/*.pid; do
        [ -e "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -eq 0 ] || rg_stop_pidfiles "${files[@]}"
}

# ------------------------------------------------------------------- POP3 ---
rg_ensure_mail_user() {
    if ! getent group "$RG_MAIL_USER" >/dev/null; then
        groupadd --system "$RG_MAIL_USER" || rg_die "groupadd $RG_MAIL_USER failed"
    fi
    if ! getent passwd "$RG_MAIL_USER" >/dev/null; then
        useradd --system --gid "$RG_MAIL_USER" --home-dir "$RG_MAIL_HOME" \
            --no-create-home --shell /usr/sbin/nologin \
            --comment "roamgate interop test mail" "$RG_MAIL_USER" \
            || rg_die "useradd $RG_MAIL_USER failed"
    fi
    # smtpd's MDA chdir()s to the delivery user's home directory
    local home
    home=$(getent passwd "$RG_MAIL_USER" | cut -d: -f6)
    if [ -n "$home" ] && [ "$home" != /nonexistent ] && [ ! -d "$home" ]; then
        install -d -m 0750 -o "$RG_MAIL_USER" -g "$RG_MAIL_USER" "$home"
    fi
}

# rg_pop3_message INSTANCE USER -> prints the initial message (LF line ends)
rg_pop3_message() {
    local inst=$1 user=$2
    printf '%s\n' \
        "Return-Path: <sender@example.test>" \
        "From: Roamgate Test Sender <sender@example.test>" \
        "To: $user@example.test" \
        "Subject: hello $user from $inst" \
        "Date: Mon, 01 Jan 2024 00:00:00 +0000" \
        "Message-ID: <pop3-$inst-$user-1@roamgate.test>" \
        "MIME-Version: 1.0" \
        "Content-Type: text/plain; charset=us-ascii" \
        "" \
        "Hello $user, this is the initial message on POP3 instance $inst." \
        ".dotted line" \
        "last line"
}

# rg_pop3_reset STATE: restore every test mailbox to the initial state.
# Instance A: alice ("hello alice from A"), bob ("hello bob from A")
# Instance B: bob ("hello bob from B"), alice ("hello alice from B")
rg_pop3_reset() {
    local state=$1 inst lc user dir
    for inst in A B; do
        lc=$(printf '%s' "$inst" | tr 'A-Z' 'a-z')
        for user in alice bob; do
            dir="$state/pop3-$lc/mail/$user"
            rm -rf "$dir"
            mkdir -p "$dir/new" "$dir/cur" "$dir/tmp"
            rg_pop3_message "$inst" "$user" >"$dir/new/1704067200.M1P1.roamgate-$lc-$user"
            touch -d '2024-01-01 00:00:00 UTC' "$dir/new/1704067200.M1P1.roamgate-$lc-$user"
            chown -R "$RG_MAIL_USER:$RG_MAIL_USER" "$dir"
            chmod -R u+rwX,go-rwx "$dir"
        done
    done
}
