#!/usr/bin/env bash
# Install the Debian packages needed by the roamgate interop tests:
#   dovecot-core + dovecot-pop3d + dovecot-imapd, opensmtpd, inn2, squid, swaks, openssl,
#   nginx-light (the web upstream) with its stream and mail modules (the bench's
#   references), chromium (the browser test's browser) and
#   postgresql (the PostgreSQL store's tests start clusters of their own)
#
# - idempotent: packages already installed are skipped (second run is fast)
# - non-interactive (DEBIAN_FRONTEND=noninteractive, keep existing conffiles)
# - distro services are never started (temporary /usr/sbin/policy-rc.d that
#   forbids every invoke-rc.d action; any pre-existing policy-rc.d is restored)
# - works without systemd as PID 1 (containers, CI)
# - works around inn2's postinst failing when the host name has no domain:
#   inn2-inews (which ships /etc/news/inn.conf) is installed first, then
#   "domain: example.test" is added to inn.conf before inn2 is configured.
# - nginx's default site (port 80) is never left running: the tests start
#   their own nginx with their own config on a loopback port.
# - PostgreSQL's default cluster (main, port 5432) is never left running nor
#   started at boot: the tests make their own with initdb (test/helpers/postgres.ts).
#
# Must run as root.  Quiet unless something fails.
set -euo pipefail

PACKAGES=(curl openssl iproute2 dovecot-core dovecot-pop3d dovecot-imapd opensmtpd inn2-inews inn2 squid swaks nginx-light libnginx-mod-stream libnginx-mod-mail chromium postgresql)
SERVICES=(dovecot opensmtpd inn2 squid nginx postgresql)
INN_CONF=/etc/news/inn.conf
INN_DOMAIN=example.test

die() { echo "install.sh: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must be run as root"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian/Ubuntu required)"

export DEBIAN_FRONTEND=noninteractive
export DEBCONF_NONINTERACTIVE_SEEN=true
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
          -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false -o DPkg::Lock::Timeout=300)

LOG=$(mktemp /tmp/roamgate-install.XXXXXX.log)

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

# Packages that are unpacked but not configured (e.g. an earlier run failed
# in inn2's postinst) are "not installed" for is_installed() but show up here.
dpkg_audit_clean() {
    [ -z "$(dpkg --audit 2>/dev/null)" ]
}

inn_conf_fix() {
    # innd/innconfval need a domain when `hostname --fqdn` has no dot.
    [ -f "$INN_CONF" ] || return 0
    if ! grep -Eq '^[[:space:]]*domain:[[:space:]]*[^[:space:]]' "$INN_CONF"; then
        if grep -Eq '^[[:space:]]*#?[[:space:]]*domain:' "$INN_CONF"; then
            sed -i -E "0,/^[[:space:]]*#?[[:space:]]*domain:.*/s//domain:                      ${INN_DOMAIN}/" "$INN_CONF"
        else
            printf 'domain:                      %s\n' "$INN_DOMAIN" >>"$INN_CONF"
        fi
    fi
    if ! grep -Eq '^[[:space:]]*fromhost:[[:space:]]*[^[:space:]]' "$INN_CONF"; then
        printf 'fromhost:                    %s\n' "$INN_DOMAIN" >>"$INN_CONF"
    fi
}

missing=()
for p in "${PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ] && dpkg_audit_clean; then
    inn_conf_fix
    rm -f "$LOG"
    exit 0
fi

# --- forbid service starts while dpkg runs -----------------------------------
POLICY=/usr/sbin/policy-rc.d
POLICY_BAK=""
if [ -e "$POLICY" ] || [ -L "$POLICY" ]; then
    POLICY_BAK=$(mktemp /usr/sbin/policy-rc.d.roamgate-bak.XXXXXX)
    cp -a "$POLICY" "$POLICY_BAK"
fi
restore_policy() {
    if [ -n "$POLICY_BAK" ]; then
        mv -f "$POLICY_BAK" "$POLICY"
    else
        rm -f "$POLICY"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# temporary, written by roamgate test/interop/servers/install.sh\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

fail() {
    echo "install.sh: ERROR: $*" >&2
    echo "---- last lines of $LOG ----" >&2
    tail -n 40 "$LOG" >&2 || true
    exit 1
}

# --- fix any half-configured state left by an earlier failed run ------------
inn_conf_fix
if ! dpkg_audit_clean; then
    dpkg --configure -a >>"$LOG" 2>&1 || fail "dpkg --configure -a (repairing earlier interrupted install) failed"
fi

missing=()
for p in "${PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    # Package lists may be missing on a fresh machine.
    if ! apt-cache show --no-all-versions inn2 >/dev/null 2>&1; then
        apt-get update -q >>"$LOG" 2>&1 || fail "apt-get update failed"
    fi

    # Step 1: inn2-inews ships /etc/news/inn.conf; install it alone and give it
    # a domain before inn2's postinst (which calls innconfval) runs.
    if ! is_installed inn2-inews; then
        apt-get install "${APT_OPTS[@]}" inn2-inews >>"$LOG" 2>&1 \
            || fail "apt-get install inn2-inews failed"
    fi
    inn_conf_fix

    # Step 2: everything else.
    rest=()
    for p in "${missing[@]}"; do
        [ "$p" = inn2-inews ] || rest+=("$p")
    done
    if [ "${#rest[@]}" -gt 0 ]; then
        if ! apt-get install "${APT_OPTS[@]}" "${rest[@]}" >>"$LOG" 2>&1; then
            # One more try after fixing inn.conf (should not be needed).
            inn_conf_fix
            dpkg --configure -a >>"$LOG" 2>&1 \
                || fail "apt-get install ${rest[*]} failed (and dpkg --configure -a did not recover)"
        fi
    fi
fi

dpkg_audit_clean || fail "dpkg --audit reports unconfigured packages: $(dpkg --audit 2>&1 | head -5)"
for p in "${PACKAGES[@]}"; do
    is_installed "$p" || fail "package $p is not installed after apt-get install"
done

# --- make sure no distro instance of a freshly installed package runs --------
# policy-rc.d prevented starts; on a host with systemd also disable the units
# so they do not come up at the next boot and occupy the default ports.
restore_policy
trap - EXIT
svc_pkg() { case "$1" in dovecot) echo dovecot-core ;; nginx) echo nginx-light ;; *) echo "$1" ;; esac; }
for s in "${SERVICES[@]}"; do
    case " ${missing[*]:-} " in *" $(svc_pkg "$s") "*) ;; *) continue ;; esac
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl stop "$s" >/dev/null 2>&1 || true
        systemctl disable "$s" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$s" ]; then
        if "/etc/init.d/$s" status >/dev/null 2>&1; then
            "/etc/init.d/$s" stop >>"$LOG" 2>&1 || echo "install.sh: warning: could not stop distro service $s" >&2
        fi
    fi
done

# nginx's default site listens on port 80. If a freshly installed nginx got
# started anyway (a policy-rc.d that does not apply, a systemd preset), stop
# it through its own pid file and make sure port 80 is free again.
case " ${missing[*]:-} " in *" nginx-light "*)
    if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
        nginx -s quit >>"$LOG" 2>&1 || kill "$(cat /run/nginx.pid)" 2>/dev/null || true
        for _ in $(seq 1 50); do
            [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null || break
            sleep 0.1
        done
    fi
    if ss -ltnpH 'sport = :80' 2>/dev/null | grep -q nginx; then
        echo "install.sh: warning: an nginx still listens on port 80 after installing nginx-light" >&2
    fi
    ;;
esac

# Debian's postgresql makes a cluster "main" on port 5432: left to the init
# script's "manual" (never started by it) and stopped if it runs anyway.
case " ${missing[*]:-} " in *" postgresql "*)
    for conf in /etc/postgresql/*/main/start.conf; do
        if [ -f "$conf" ]; then sed -i 's/^auto$/manual/' "$conf"; fi
    done
    if command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _port status _rest; do
            if [ "$status" = online ]; then
                pg_ctlcluster "$version" "$cluster" stop >>"$LOG" 2>&1 \
                    || echo "install.sh: warning: could not stop PostgreSQL cluster $version/$cluster" >&2
            fi
        done
    fi
    ;;
esac

rm -f "$LOG"
exit 0
