#!/bin/sh
# nginx-timeout — how long nginx waits for the app's answer on a location:
# its proxy_read_timeout, else one set around it (server or http), else
# nginx's default of 60s.
# usage: nginx-timeout CONFIG LOCATION [SITE]
#   CONFIG    the main config file (read through `nginx -T` when it can be)
#   LOCATION  the location prefix, e.g. /api
#   SITE      the site file holding that location (read first when readable)
# env: (none)
# sudo: /usr/sbin/nginx -T -c $1
# prints: proxy_read_timeout=VALUE seconds=N source=location|outside-location|default
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
  if [ -n "$site" ] && [ -r "$site" ]; then cat "$site"; fi
  if command -v nginx >/dev/null 2>&1 && as_root nginx -T -c "$conf" 2>/dev/null; then return; fi
  cat "$conf" 2>/dev/null
}

found=$(dump | awk -v loc="$loc" '
  function seconds(v,   total, n, u) {
    total = 0
    while (match(v, /^[0-9]+(ms|s|m|h|d)?/)) {
      n = substr(v, 1, RLENGTH); v = substr(v, RLENGTH + 1)
      u = n; sub(/^[0-9]+/, "", u); n = n + 0
      total += (u == "ms") ? n / 1000 : (u == "m") ? n * 60 : (u == "h") ? n * 3600 : (u == "d") ? n * 86400 : n
    }
    return total
  }
  {
    l = $0; sub(/#.*/, "", l)
    if (!inloc && l ~ /(^|[ \t;{])location[ \t]/) {
      inloc = 1; base = depth; opened = 0
      mine = index(l, " " loc " ") || index(l, " " loc "/ ") || index(l, " " loc "{") || index(l, " " loc "/{")
    }
    if (match(l, /proxy_read_timeout[ \t]+[^; \t]+/)) {
      v = substr(l, RSTART, RLENGTH); sub(/proxy_read_timeout[ \t]+/, "", v)
      if (inloc && mine && here == "") here = v
      else if (!inloc && outside == "") outside = v
    }
    n = gsub(/\{/, "{", l); m = gsub(/\}/, "}", l); depth += n - m
    if (n > 0) opened = 1
    if (inloc && opened && depth <= base) inloc = 0
  }
  END {
    if (here != "") print "proxy_read_timeout=" here " seconds=" seconds(here) " source=location"
    else if (outside != "") print "proxy_read_timeout=" outside " seconds=" seconds(outside) " source=outside-location"
    else print "proxy_read_timeout=60s seconds=60 source=default"
  }')
echo "$found"
