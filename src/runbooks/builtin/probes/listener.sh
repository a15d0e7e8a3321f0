#!/bin/sh
# listener — what listens on a TCP port, and which process holds it.
# usage: listener PORT
# env: (none)
# sudo: /usr/bin/ss -Hltnp
# prints: listener=ADDRESS:PORT, pid=N, cmd=ARGS (cut at 200 characters),
#   or "nothing listens on :PORT". Uses ss, else lsof. Not root and no sudo
#   rule for ss: note=needs sudo for ss -ltnp ... when the holder is hidden.
set -u
# as_root CMD... — CMD as root when allowed: directly as root, else through
# `sudo -n` when sudoers allows exactly this command (never a password
# prompt), else as this user.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n -l "$@" >/dev/null 2>&1; then sudo -n "$@"; return; fi
  "$@"
}
port=$1
line=''
pid=''
if command -v ss >/dev/null 2>&1; then
  line=$(as_root ss -Hltnp 2>/dev/null | awk -v p="$port" '{ n = split($4, a, ":"); if (a[n] == p) { print; exit } }')
  if [ -n "$line" ]; then
    echo "listener=$(printf '%s\n' "$line" | awk '{print $4}')"
    pid=$(printf '%s\n' "$line" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
  fi
elif command -v lsof >/dev/null 2>&1; then
  pid=$(lsof -nP -t -iTCP:"$port" -sTCP:LISTEN 2>/dev/null | head -n 1)
  if [ -n "$pid" ]; then line="*:$port"; echo "listener=$line"; fi
else
  echo "note=neither ss nor lsof is installed"
  exit 0
fi
if [ -n "$pid" ]; then
  echo "pid=$pid"
  echo "cmd=$(ps -o args= -p "$pid" 2>/dev/null | cut -c1-200)"
elif [ -z "$line" ]; then
  echo "nothing listens on :$port"
elif [ "$(id -u)" != 0 ]; then
  echo "note=needs sudo for ss -ltnp to tell which process holds :$port (see triage sudoers)"
fi
exit 0
