#!/bin/sh
# nginx-proxy — where nginx sends a location: its proxy_pass and, through an
# upstream block, the first server behind it.
# usage: nginx-proxy CONFIG LOCATION [SITE]
#   CONFIG    the main config file (read through `nginx -T` when SITE is not given)
#   LOCATION  the location prefix, e.g. /api
#   SITE      the site file holding that location (read directly when readable)
# env: (none)
# sudo: /usr/sbin/nginx -T -c $1
# prints: proxy_pass=URL, upstream=HOST:PORT (or unix:PATH), upstream_block=NAME,
#   or "no proxy_pass found for location LOCATION".
set -u
[ "$(id -u)" = 0 ] || PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
# as_root CMD... — CMD as root when allowed: directly as root, else through
# `sudo -n` when sudoers allows exactly this command (never a password
# prompt), else as this user.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n -l "$@" >/dev/null 2>&1; then sudo -n "$@"; return; fi
  "$@"
}
conf=$1
loc=$2
site=${3:-}

dump() {
  if [ -n "$site" ] && [ -r "$site" ]; then cat "$site"; else as_root nginx -T -c "$conf" 2>/dev/null; fi
}

pp=$(dump | awk -v loc="$loc" '
  { l = $0; sub(/#.*/, "", l) }
  !inloc && index(l, "location") && (index(l, " " loc " ") || index(l, " " loc "/ ") || index(l, " " loc "{") || index(l, " " loc "/{")) { inloc = 1; depth = 0 }
  inloc {
    n = gsub(/\{/, "{", l); m = gsub(/\}/, "}", l); depth += n - m
    if (match(l, /proxy_pass[ \t]+[^; \t]+/)) { v = substr(l, RSTART, RLENGTH); sub(/proxy_pass[ \t]+/, "", v); print v; exit }
    if (depth <= 0 && (n + m) > 0) inloc = 0
  }')
if [ -z "$pp" ]; then
  echo "no proxy_pass found for location $loc"
  exit 0
fi
echo "proxy_pass=$pp"
case "$pp" in
  *://unix:*)
    # http://unix:/run/app.sock:/uri — the socket path ends at the next colon.
    sock=${pp#*://unix:}
    echo "upstream=unix:${sock%%:*}"
    exit 0
    ;;
esac
hostport=$(printf '%s\n' "$pp" | sed -e 's#^[a-z]*://##' -e 's#/.*$##')
case "$hostport" in
  *:*) echo "upstream=$hostport" ;;
  *)
    srv=$({ dump; cat "$conf" 2>/dev/null; as_root nginx -T -c "$conf" 2>/dev/null; } | awk -v n="$hostport" '
      $1 == "upstream" && ($2 == n || $2 == n "{") { inup = 1; next }
      inup && $1 == "server" { s = $2; sub(/;$/, "", s); print s; exit }
      inup && /\}/ { inup = 0 }')
    if [ -n "$srv" ]; then
      echo "upstream_block=$hostport"
      echo "upstream=$srv"
    else
      echo "upstream=$hostport:80"
    fi
    ;;
esac
