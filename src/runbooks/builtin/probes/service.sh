#!/bin/sh
# service — is the app's service up? Its state, its processes (children
# included), the TCP ports they listen on, and the manager's own commands.
# usage: service MANAGER NAME
#   MANAGER  systemd | pm2 | docker | process
#   NAME     the unit, pm2 process or container; for process, a pgrep -f pattern
# env: (none)
# sudo: /usr/bin/ss -Hltnp
# prints, one fact a line:
#   state=active|inactive|failed|missing|unknown|<the manager's word>
#   substate=W restarts=N exit_status=N   (when the manager knows them)
#   pid=N        every process of the service, children included
#   proc PID ELAPSED ARGS                 (up to 5)
#   listen=ADDRESS:PORT                   every TCP socket they listen on
#   start_cmd= restart_cmd= logs_cmd=     the manager's commands for this service
#   reload_env_cmd=   how to restart it so it takes a changed environment
#   note=...     why a fact could not be read
# Never prints environment values: pm2 state comes from `pm2 ls -m`, not jlist.
set -u
# as_root CMD... — CMD as root when allowed: directly as root, else through
# `sudo -n` when sudoers allows exactly this command (never a password
# prompt), else as this user.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n -l "$@" >/dev/null 2>&1; then sudo -n "$@"; return; fi
  "$@"
}
mgr=$1
name=$2
pids=''
state=unknown

# tree PID... — those processes and all their descendants that are alive, one a line.
tree() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) s[r[i]] = 1 }
    { pp[$1] = $2; o[NR] = $1 }
    END {
      c = 1
      while (c) { c = 0; for (i = 1; i <= NR; i++) { p = o[i]; if (!(p in s) && (pp[p] in s)) { s[p] = 1; c = 1 } } }
      for (p in s) if (p in pp) print p
    }' | sort -n
}

systemd_state() {
  echo "start_cmd=sudo systemctl start $name"
  echo "restart_cmd=sudo systemctl restart $name"
  echo "reload_env_cmd=sudo systemctl restart $name"
  echo "logs_cmd=sudo journalctl -u $name -n 50 --no-pager"
  if ! command -v systemctl >/dev/null 2>&1; then echo "note=systemctl not found"; return; fi
  show=$(systemctl show -p LoadState -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p MainPID -p ControlGroup "$name" 2>/dev/null)
  if [ -z "$show" ]; then echo "note=systemctl show $name answered nothing (is systemd running?)"; return; fi
  load=$(prop LoadState)
  if [ "$load" = not-found ]; then state=missing; return; fi
  state=$(prop ActiveState)
  [ -n "$state" ] || state=unknown
  echo "substate=$(prop SubState)"
  echo "restarts=$(prop NRestarts)"
  echo "exit_status=$(prop ExecMainStatus)"
  cg=$(prop ControlGroup)
  if [ -n "$cg" ] && [ -r "/sys/fs/cgroup$cg/cgroup.procs" ]; then pids=$(cat "/sys/fs/cgroup$cg/cgroup.procs"); fi
  main=$(prop MainPID)
  if [ -z "$pids" ] && [ -n "$main" ] && [ "$main" != 0 ]; then pids=$main; fi
}

# prop KEY — a value from systemctl show's KEY=VALUE lines.
prop() {
  printf '%s\n' "$show" | sed -n "s/^$1=//p" | head -n 1
}

pm2_state() {
  echo "start_cmd=pm2 start $name"
  echo "restart_cmd=pm2 restart $name --update-env"
  echo "reload_env_cmd=pm2 restart $name --update-env"
  echo "logs_cmd=pm2 logs $name --lines 50 --nostream"
  if ! command -v pm2 >/dev/null 2>&1; then echo "note=pm2 not found"; return; fi
  esc=$(printf '\033')
  # `pm2 ls -m`: a "+--- NAME" line, then "key : value" lines, per process.
  info=$(pm2 ls -m 2>/dev/null | sed "s/${esc}\[[0-9;]*m//g" | awk -v n="$name" '
    /^\+--- / { cur = substr($0, 6); sub(/[ \t\r]+$/, "", cur); next }
    cur == n && index($0, " : ") {
      k = substr($0, 1, index($0, " : ") - 1); v = substr($0, index($0, " : ") + 3)
      sub(/[ \t\r]+$/, "", v); f[k] = v
    }
    END {
      if (!("status" in f)) { print "missing 0 0"; exit }
      s = f["status"]; gsub(/ /, "-", s)
      print s, f["pid"] + 0, f["restarted"] + 0
    }')
  st=${info%% *}
  rest=${info#* }
  pid=${rest%% *}
  echo "restarts=${rest#* }"
  case "$st" in online) state=active ;; *) state=$st ;; esac
  if [ "$pid" != 0 ]; then pids=$pid; fi
}

docker_state() {
  echo "start_cmd=docker start $name"
  echo "restart_cmd=docker restart $name"
  echo "reload_env_cmd=docker rm -f $name, then create it again with the new environment (docker compose up -d --force-recreate, or docker run --env-file ...): docker restart keeps the old environment"
  echo "logs_cmd=docker logs --tail 50 $name"
  if ! command -v docker >/dev/null 2>&1; then echo "note=docker not found"; return; fi
  if out=$(docker inspect -f '{{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.State.ExitCode}}' "$name" 2>&1); then
    st=${out%% *}
    rest=${out#* }
    pid=${rest%% *}
    rest=${rest#* }
    echo "restarts=${rest%% *}"
    echo "exit_status=${rest#* }"
    case "$st" in running) state=active ;; *) state=$st ;; esac
    if [ "$pid" != 0 ]; then pids=$pid; fi
  else
    case "$out" in
      *"No such"*) state=missing ;;
      *) echo "note=docker: $(printf '%s\n' "$out" | head -n 1)" ;;
    esac
  fi
}

process_state() {
  echo "start_cmd=start it the way it is normally started (nothing matches the pattern now)"
  echo "reload_env_cmd=stop it and start it again the way it is normally started, so it reads the environment anew"
  # This probe's own command line holds the pattern: leave out this shell and everything it started.
  cands=$(pgrep -f -- "$name" | tr '\n' ' ')
  mine=" $(tree "$$" | tr '\n' ' ') "
  # ... and the processes this shell runs under (the executor's `timeout ... sh -c` carries the pattern too).
  mine="$mine$(ps -e -o pid=,ppid= | awk -v me="$$" '{ pp[$1] = $2 } END { p = pp[me]; n = 0; while (p > 1 && n < 64) { printf "%s ", p; p = pp[p]; n++ } }')"
  pids=''
  for p in $cands; do
    case "$mine" in *" $p "*) ;; *) [ -d "/proc/$p" ] || ps -p "$p" >/dev/null 2>&1 && pids="$pids $p" ;; esac
  done
  if [ -n "$pids" ]; then state=active; else state=inactive; fi
}

case "$mgr" in
  systemd) systemd_state ;;
  pm2) pm2_state ;;
  docker) docker_state ;;
  process) process_state ;;
  *) echo "note=unknown service manager $mgr (systemd, pm2, docker or process)" ;;
esac
echo "state=$state"
[ -n "$pids" ] || exit 0

# shellcheck disable=SC2086 # pids is a list of numbers, one word each
all=$(tree $pids)
for p in $all; do echo "pid=$p"; done
ps -o pid=,etime=,args= -p "$(printf '%s\n' "$all" | paste -s -d, -)" 2>/dev/null | head -n 5 | sed 's/^ */proc /'
if ! command -v ss >/dev/null 2>&1; then echo "note=ss not found: listening ports unknown"; exit 0; fi
listening=$(as_root ss -Hltnp 2>/dev/null)
if [ -n "$all" ] && [ "$(id -u)" != 0 ] && printf '%s\n' "$listening" | grep -v 'users:' | grep -q .; then
  echo "note=needs sudo for ss -ltnp to see the ports of another user's processes (see triage sudoers)"
fi
printf '%s\n' "$listening" | awk -v set=" $(printf '%s\n' "$all" | tr '\n' ' ') " '{
  addr = $4; line = $0
  while (match(line, /pid=[0-9]+/)) {
    pid = substr(line, RSTART + 4, RLENGTH - 4)
    if (index(set, " " pid " ")) { print "listen=" addr; break }
    line = substr(line, RSTART + RLENGTH)
  }
}' | sort -u
