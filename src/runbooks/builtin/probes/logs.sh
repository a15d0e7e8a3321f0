#!/bin/sh
# logs — the error lines among an app's recent log lines.
# usage: logs LINES
#   LINES  how many recent lines to read
# env: LOG_FILE LOG_JOURNAL LOG_PM2 LOG_DOCKER SERVICE_MANAGER SERVICE_NAME
#   LOG_*  where the app logs (the first one set wins); with none set, the
#          service's own manager is asked (SERVICE_MANAGER, SERVICE_NAME)
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
if [ -n "$file" ]; then
  if [ ! -r "$file" ]; then echo "note=log file $file is missing or unreadable"; exit 0; fi
  src="tail -n $n $file"
  text=$(tail -n "$n" "$file")
elif [ -n "$unit" ]; then
  src="journalctl -u $unit"
  text=$(journalctl -u "$unit" -n "$n" --no-pager -o cat 2>&1)
elif [ -n "$pm2n" ]; then
  src="pm2 logs $pm2n"
  text=$(pm2 logs "$pm2n" --lines "$n" --nostream --raw 2>&1)
elif [ -n "$dock" ]; then
  src="docker logs $dock"
  text=$(docker logs --tail "$n" "$dock" 2>&1)
else
  echo "note=no logs configured (set target.logs)"
  exit 0
fi
echo "source=$src"
printf '%s\n' "$text" |
  grep -E -i 'error|exception|traceback|fatal|panic|refused|EADDRINUSE|address already in use|not set|missing|invalid signature|cannot find module|no module named|killed|out of memory' |
  tail -n 40
exit 0
