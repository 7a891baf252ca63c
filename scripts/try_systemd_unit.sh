#!/usr/bin/env bash
# Run deploy/chinook.service under a real systemd, on a machine whose init is
# not systemd: a Debian root file system made with debootstrap, booted with
# systemd-nspawn (sharing this machine's network), the service installed into
# /opt/chinook from wheels built here.  Checks what the test suite cannot:
# DynamicUser, the StateDirectory, the environment file and its token,
# Restart=on-failure, and a clean stop.  Takes a few minutes (debootstrap).
#
#   sudo scripts/try_systemd_unit.sh [ROOTFS]     (default: a new temporary directory)
#
# Needs root, apt-get (debootstrap and systemd-container are installed if
# missing) and Debian's package mirror.  The root file system is removed at
# the end unless it was given.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${1:-}"
keep_root=1
if [ -z "$root" ]; then
    root="$(mktemp -d /tmp/chinook-systemd.XXXXXX)"
    chmod 0755 "$root"  # it becomes the container's /: the dynamic user must enter it
    keep_root=0
fi
work="$(mktemp -d /tmp/chinook-systemd-work.XXXXXX)"
token="try-systemd-unit-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
boot=""

cleanup() {
    if [ -n "$boot" ] && kill -0 "$boot" 2>/dev/null; then
        inside systemctl poweroff 2>/dev/null || kill "$boot" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$boot" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -rf "$work"
    if [ "$keep_root" = 0 ]; then rm -rf "$root" || echo "could not remove $root" >&2; fi
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
inside() { nsenter --target "$(pgrep -P "$boot" | head -n 1)" --all "$@"; }
healthy() {
    for _ in $(seq 60); do curl -sf "$url/healthz" >/dev/null && return 0; sleep 1; done
    return 1
}

# The wheels are built by this machine's Python for Debian 12's, 3.11.
python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || fail "python3 must be 3.11, like Debian 12's"
for tool in debootstrap systemd-nspawn; do
    if ! command -v "$tool" >/dev/null; then
        apt-get install -y -q debootstrap systemd-container >/dev/null
    fi
done

if [ ! -x "$root/usr/bin/python3" ]; then
    step "debootstrap into $root"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates \
        bookworm "$root" >"$work/debootstrap.log"
fi

step "install the service into $root/opt/chinook"
python3 -m pip wheel --quiet --wheel-dir "$root/tmp/wheels" "$repo[postgres,mysql]"
chroot "$root" python3 -m venv /opt/chinook
chroot "$root" env -u PIP_FIND_LINKS /opt/chinook/bin/pip install --quiet --no-index \
    --find-links /tmp/wheels 'chinook-svc[postgres,mysql]'
chroot "$root" /opt/chinook/bin/python -c \
    'from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))'
install -m 0644 "$repo/deploy/chinook.service" "$root/etc/systemd/system/"
install -d -m 0755 "$root/etc/chinook"
install -m 0600 /dev/null "$root/etc/chinook/chinook.env"
printf 'CHINOOK_LISTEN=tcp:%s:interface=127.0.0.1\nCHINOOK_WORKERS=2\nCHINOOK_ALLOW_WRITES=true\nCHINOOK_API_TOKEN=%s\n' \
    "$port" "$token" >"$root/etc/chinook/chinook.env"
systemctl --root="$root" enable chinook.service >/dev/null 2>&1
systemd-analyze verify --root="$root" chinook.service

step "boot it (systemd-nspawn), wait for $url/healthz"
systemd-nspawn --directory="$root" --boot --register=no --keep-unit --quiet \
    >"$work/boot.log" 2>&1 </dev/null &
boot=$!
if ! healthy; then
    inside journalctl --no-pager -o cat | tail -n 60
    fail "no answer from $url/healthz"
fi
curl -s "$url/healthz"; echo

step "runs as a dynamic user, no capabilities, no new privileges, seccomp"
main="$(inside systemctl show chinook --property=MainPID --value)"
inside grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$main/status" | tee "$work/status"
grep -q '^Uid:[[:space:]]0[[:space:]]' "$work/status" && fail "runs as root"
grep -q '^CapEff:[[:space:]]0000000000000000' "$work/status" || fail "has capabilities"
grep -q '^NoNewPrivs:[[:space:]]1' "$work/status" || fail "may gain privileges"
grep -q '^Seccomp:[[:space:]]2' "$work/status" || fail "no system call filter"
inside ls -l /var/lib/private/chinook

step "a write with the token from /etc/chinook/chinook.env"
status="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" -d '{"name": "Written under systemd"}' "$url/api/artists")"
echo "POST /api/artists: $status"
[ "$status" = 201 ] || fail "the write answered $status"

step "SIGKILL the main process: Restart=on-failure starts it again"
inside sh -c "kill -9 $main"
sleep 4
healthy || fail "not restarted"
inside systemctl show chinook --property=NRestarts

step "systemctl stop: a clean stop"
inside systemctl stop chinook
inside systemctl show chinook --property=ActiveState --property=Result
[ "$(inside systemctl show chinook --property=Result --value)" = success ] || fail "unclean stop"
# By the syslog identifier, not -u: the last lines of a process that has
# exited may reach the journal without their unit.
inside journalctl --identifier=twistd --no-pager -o cat >"$work/journal"
grep -q 'Server Shut Down.' "$work/journal" || { tail -n 40 "$work/journal"; fail "no shutdown line"; }
if grep -qiE 'traceback|not permitted' "$work/journal"; then fail "errors in the journal"; fi
echo "all checks passed"
