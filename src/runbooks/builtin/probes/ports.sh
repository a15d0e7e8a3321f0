#!/bin/sh
# ports — do these TCP ports have a listener? (Seed 003: after a deploy the
# frontend on 5174 and the mobile app on 5175 were never started.)
# usage: ports PORT...
# env: (none)
# sudo: /usr/bin/ss -Hltnp
# prints, per port: port N listening ADDRESS pid=PID cmd=ARGS | port N closed,
#   closed=N (each port nothing listens on), or note=WHY. Uses ss.
set -u
# as_root CMD... — CMD as root when allowed: directly as root, else through
# `sudo -n` when sudoers allows exactly this command (never a password
# prompt), else as this user.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n -l "$@" >/dev/null 2>&1; then sudo -n "$@"; return; fi
  "$@"
}
if ! command -v ss >/dev/null 2>&1; then echo "note=ss is not installed"; exit 0; fi
all=$(as_root ss -Hltnp 2>/dev/null)
for port in "$@"; do
  case "$port" in '' | *[!0-9]*) echo "note=skipped $port: not a port"; continue ;; esac
  line=$(printf '%s\n' "$all" | awk -v p="$port" '{ n = split($4, a, ":"); if (a[n] == p) { print; exit } }')
  if [ -z "$line" ]; then
    echo "port $port closed"
    echo "closed=$port"
    continue
  fi
  pid=$(printf '%s\n' "$line" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  cmd=''
  [ -z "$pid" ] || cmd=$(ps -o args= -p "$pid" 2>/dev/null | cut -c1-120)
  [ -n "$pid" ] || [ "$(id -u)" = 0 ] || echo "note=needs sudo for ss -ltnp to tell which process holds :$port (see triage sudoers)"
  echo "port $port listening $(printf '%s\n' "$line" | awk '{ print $4 }') pid=${pid:-?} cmd=$cmd"
done
exit 0
