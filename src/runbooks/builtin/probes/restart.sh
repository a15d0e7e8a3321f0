#!/bin/sh
# restart — restarts the app through its service manager (changes the host:
# only ever run as an approved remedy step).
# usage: restart MANAGER NAME
#   MANAGER  systemd | pm2 | docker
#   NAME     the unit, pm2 process or container
# env: (none)
# sudo changes if $1=systemd: /usr/bin/systemctl restart $2
# sudo changes if $1=systemd: /usr/bin/systemctl restart $2
# prints: run=COMMAND (what it runs), then the manager's own output;
#   exits with the manager's status, or 2 with note=WHY when it cannot restart
#   this kind of service (a plain process has no manager to ask).
# pm2 restarts with --update-env, so a changed environment is taken too.
# systemd goes through `sudo -n` unless already root (never prompts).
set -u
mgr=$1
name=$2

# as_root CMD... — CMD as root: directly when root, else through sudo without a prompt.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

case "$mgr" in
  systemd)
    echo "run=systemctl restart $name"
    as_root systemctl restart "$name" 2>&1 || exit $?
    echo "state=$(systemctl is-active "$name" 2>/dev/null)"
    ;;
  pm2)
    echo "run=pm2 restart $name --update-env"
    out=$(pm2 restart "$name" --update-env 2>&1)
    st=$?
    printf '%s\n' "$out" | sed "s/$(printf '\033')\[[0-9;]*m//g" | tail -n 20
    exit "$st"
    ;;
  docker)
    echo "run=docker restart $name"
    docker restart "$name" 2>&1 || exit $?
    ;;
  *)
    echo "note=cannot restart a $mgr service: no manager to ask (systemd, pm2 or docker)"
    exit 2
    ;;
esac
