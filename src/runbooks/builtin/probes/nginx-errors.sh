#!/bin/sh
# nginx-errors — what nginx logged lately about its upstreams: the error.log
# lines from the last WINDOW seconds that mention an upstream. Older lines are
# counted, not shown, so yesterday's outage does not read as today's.
# usage: nginx-errors CONFIG WINDOW [SITE]
#   CONFIG  the main config file (its error_log directive says where the log is)
#   WINDOW  seconds to look back (a fraction is cut off)
#   SITE    the site file, read first for an error_log of its own
# env: (none)
# prints: source=PATH, window=Ns, then up to 40 matching lines, older=N (matching
#   lines before the window), or note=WHY. Reads into memory; writes nothing.
set -u
conf=$1
win=${2%%.*}
site=${3:-}
case "$win" in '' | *[!0-9]*) echo "note=WINDOW must be a number of seconds"; exit 2 ;; esac

log=''
for f in "$site" "$conf"; do
  if [ -z "$f" ] || [ ! -r "$f" ]; then continue; fi
  log=$(sed -n 's/#.*//; s/^[[:space:]]*error_log[[:space:]]\{1,\}\([^;[:space:]]*\).*/\1/p' "$f" | grep '^/' | head -n 1)
  [ -z "$log" ] || break
done
if [ -z "$log" ] && command -v nginx >/dev/null 2>&1; then
  log=$(nginx -T -c "$conf" 2>/dev/null | sed -n 's/#.*//; s/^[[:space:]]*error_log[[:space:]]\{1,\}\([^;[:space:]]*\).*/\1/p' | grep '^/' | head -n 1)
fi
[ -n "$log" ] || log=/var/log/nginx/error.log
if [ ! -r "$log" ]; then echo "note=nginx error log $log is missing or unreadable"; exit 0; fi
echo "source=$log"
echo "window=${win}s"
now=$(date +%s)
# nginx writes local time as YYYY/MM/DD HH:MM:SS, which sorts as text.
cut=$(date -d "@$((now - win))" '+%Y/%m/%d %H:%M:%S' 2>/dev/null)
[ -n "$cut" ] || echo "note=this date cannot convert times; showing lines of any age"
tail -n 5000 "$log" | grep -E 'upstream|while connecting to|no live upstreams' | awk -v cut="$cut" '
  { ts = substr($0, 1, 19) }
  cut != "" && ts ~ /^[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9] / && ts < cut { older++; next }
  { keep[++n] = $0 }
  END { s = n > 40 ? n - 39 : 1; for (i = s; i <= n; i++) print keep[i]; print "older=" older + 0 }'
exit 0
