#!/bin/sh
# nginx-test — does nginx accept its configuration (`nginx -t`)?
# usage: nginx-test CONFIG
#   CONFIG  the main config file, e.g. /etc/nginx/nginx.conf
# env: (none)
# sudo: /usr/sbin/nginx -t -c $1
# prints nginx -t's own words (stdout and stderr); exits with its status,
#   or 127 with "nginx is not installed on this host". Not root and no sudo
#   rule for it: nginx cannot open its pid and log files, so it prints
#   "needs sudo for nginx -t (see triage sudoers)" and exits 77 (the config
#   was not judged).
set -u
# A login that is not root often has no sbin on its PATH (Debian's default user PATH), where nginx lives.
[ "$(id -u)" = 0 ] || PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
# as_root CMD... — CMD as root when allowed: directly as root, else through
# `sudo -n` when sudoers allows exactly this command (never a password
# prompt), else as this user.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n -l "$@" >/dev/null 2>&1; then sudo -n "$@"; return; fi
  "$@"
}
if ! command -v nginx >/dev/null 2>&1; then
  echo "nginx is not installed on this host"
  exit 127
fi
out=$(as_root nginx -t -c "$1" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" != 0 ] && [ "$(id -u)" != 0 ] && printf '%s\n' "$out" | grep -q 'Permission denied'; then
  echo "needs sudo for nginx -t (see triage sudoers)"
  exit 77
fi
exit "$rc"
