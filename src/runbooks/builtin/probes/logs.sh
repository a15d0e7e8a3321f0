#!/bin/sh
# logs — the error lines among an app's recent log lines.
# usage: logs LINES
#   LINES  how many recent lines to read
# env: LOG_FILE LOG_JOURNAL LOG_PM2 LOG_DOCKER SERVICE_MANAGER SERVICE_NAME APP_PIDS
#   LOG_*  where the app logs (the first one set wins); with none set, the
#          service's own manager is asked (SERVICE_MANAGER, SERVICE_NAME)
#   APP_PIDS  the app's running processes (may be empty): when given, only
#          lines from since the oldest of them started are read, so a crash
#          from before the running process says nothing about it. Lines are
#          dated by the first YYYY-MM-DD HH:MM:SS (or YYYY/MM/DD, T, Z) near
#          their start; undated lines take the date of the line before; a
#          file last written before the start is all old.
# prints: source=WHERE, then up to 40 matching lines, or note=WHY when there
#   is nothing to read. Reads into memory: nothing is written on the host.
set -u
n=$1
file=$LOG_FILE
unit=$LOG_JOURNAL
pm2n=$LOG_PM2
dock=$LOG_DOCKER
if [ -z "$file$unit$pm2n$dock" ]; then
  case "$SERVICE_MANAGER" in
    systemd) unit=$SERVICE_NAME ;;
    pm2) pm2n=$SERVICE_NAME ;;
    docker) dock=$SERVICE_NAME ;;
  esac
fi

# started PID... — epoch second the oldest of these live processes started (from /proc), or nothing.
started() {
  [ -r /proc/stat ] || return 0
  btime=$(awk '$1 == "btime" { print $2 }' /proc/stat)
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  for p in "$@"; do
    case "$p" in '' | *[!0-9]*) continue ;; esac
    # Field 22 (start time in ticks since boot) is the 20th after the ") " that ends the command name.
    if [ -r "/proc/$p/stat" ]; then sed 's/^.*) //' "/proc/$p/stat"; fi
  done | awk -v b="$btime" -v hz="$hz" '{ s = b + int($20 / hz); if (min == "" || s < min) min = s } END { if (min != "") print min }'
}
since=''
# shellcheck disable=SC2086 # APP_PIDS is a list of numbers, one word each
if [ -n "$APP_PIDS" ]; then since=$(started $APP_PIDS); fi
when=''
if [ -n "$since" ]; then when=$(date -d "@$since" '+%Y-%m-%d %H:%M:%S' 2>/dev/null); fi

if [ -n "$file" ]; then
  if [ ! -r "$file" ]; then echo "note=log file $file is missing or unreadable"; exit 0; fi
  src="tail -n $n $file"
  text=$(tail -n "$n" "$file")
elif [ -n "$unit" ]; then
  src="journalctl -u $unit"
  if [ -n "$when" ]; then
    text=$(journalctl -u "$unit" -n "$n" --no-pager -o cat --since "@$since" 2>&1)
    when=''
  else
    text=$(journalctl -u "$unit" -n "$n" --no-pager -o cat 2>&1)
  fi
elif [ -n "$pm2n" ]; then
  src="pm2 logs $pm2n"
  text=$(pm2 logs "$pm2n" --lines "$n" --nostream --raw 2>&1)
elif [ -n "$dock" ]; then
  src="docker logs $dock"
  if [ -n "$when" ]; then
    text=$(docker logs --tail "$n" --since "$since" "$dock" 2>&1)
    when=''
  else
    text=$(docker logs --tail "$n" "$dock" 2>&1)
  fi
else
  echo "note=no logs configured (set target.logs)"
  exit 0
fi
if [ -n "$since" ]; then src="$src, since the running process started"; fi
if [ -n "$when" ]; then
  utc=$(date -u -d "@$since" '+%Y-%m-%d %H:%M:%S')
  allold=0
  if [ -n "$file" ] && mt=$(stat -c %Y "$file" 2>/dev/null) && [ "$mt" -lt "$since" ]; then allold=1; fi
  text=$(printf '%s\n' "$text" | awk -v loc="$when" -v utc="$utc" -v allold="$allold" '
    { line[NR] = $0; cur[NR] = -1 }
    !allold && match(substr($0, 1, 60), /[0-9][0-9][0-9][0-9][-\/][0-9][0-9][-\/][0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]/) {
      ts = substr($0, RSTART, 19); gsub(/\//, "-", ts); sub(/T/, " ", ts)
      z = substr($0, RSTART + 19, 12) ~ /^(\.[0-9]+)?(Z|[+]00:?00)/
      now = ts >= (z ? utc : loc); dated = 1
    }
    dated { cur[NR] = now }
    END {
      for (i = 1; i <= NR; i++) {
        keep = allold ? 0 : cur[i] == -1 ? !dated : cur[i]
        if (keep) print line[i]; else old++
      }
      print "\001old=" old + 0
    }')
  old=$(printf '%s\n' "$text" | tail -n 1 | sed 's/^.old=//')
  text=$(printf '%s\n' "$text" | sed '$d')
  src="$src at $when; $old older lines left out"
fi
echo "source=$src"
printf '%s\n' "$text" |
  grep -E -i 'error|exception|traceback|fatal|panic|refused|EADDRINUSE|address already in use|not set|missing|invalid signature|cannot find module|no module named|killed|out of memory' |
  tail -n 40
exit 0
