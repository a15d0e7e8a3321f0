#!/bin/sh
# tcp — can this host open a TCP connection to HOST:PORT (within 3 seconds)?
# usage: tcp HOST PORT
# env: (none)
# prints: tcp=reachable, tcp=unreachable, or tcp=unknown (no bash or nc to try with).
set -u
h=$1
p=$2
if command -v bash >/dev/null 2>&1; then
  if command -v timeout >/dev/null 2>&1; then t='timeout 3'; else t=''; fi
  # shellcheck disable=SC2016 # $0 and $1 belong to the inner bash
  if $t bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>/dev/null; then echo "tcp=reachable"; else echo "tcp=unreachable"; fi
elif command -v nc >/dev/null 2>&1; then
  if nc -z -w 3 "$h" "$p" 2>/dev/null; then echo "tcp=reachable"; else echo "tcp=unreachable"; fi
else
  echo "tcp=unknown (no bash or nc)"
fi
