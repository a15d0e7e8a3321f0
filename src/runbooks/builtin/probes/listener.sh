#!/bin/sh
# listener — what listens on a TCP port, and which process holds it.
# usage: listener PORT
# env: (none)
# prints: listener=ADDRESS:PORT, pid=N, cmd=ARGS (cut at 200 characters),
#   or "nothing listens on :PORT". Uses ss, else lsof.
set -u
port=$1
line=''
pid=''
if command -v ss >/dev/null 2>&1; then
  line=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)
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
fi
exit 0
