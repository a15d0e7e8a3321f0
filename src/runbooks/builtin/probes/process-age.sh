#!/bin/sh
# process-age — did the app's running process start after its code, its
# dependencies (or its env file) last changed? A process older than the
# deploy still runs the previous version (seed 003: only some services were
# restarted).
# usage: process-age WORKDIR [PATH...]
#   WORKDIR  the app's folder: its code files are walked (may be empty: no walk).
#            Left out: .git, node_modules, venvs, caches, logs, *.log, *.pyc,
#            .env files, and the EXCLUDE paths.
#   PATH     more things to compare, relative to WORKDIR unless absolute: a file
#            (its mtime), or a folder (its mtime and its entries'; for a venv,
#            its site-packages' entries) — e.g. venv, node_modules, .env; one
#            that does not exist is left out
# env: PIDS EXCLUDE
#   PIDS     the app's processes; the oldest one that is alive counts
#   EXCLUDE  paths under WORKDIR not to walk (one a line), e.g. the frontend build
# prints: pid=N started=EPOCH started_at=TIME (the oldest live process),
#   code_newest=EPOCH code_file=PATH, newer_count=N, newer=PATH (up to 5 code
#   files changed after the start), path PATH newest=EPOCH changed=after|before,
#   changed=PATH (each PATH changed after the start), stale=yes|no,
#   or note=WHY (no live process, no GNU find).
# "After" means more than 2 s after: start times are whole seconds, boot time too.
set -u
wd=$1
shift

oldest=''
started=''
if [ -r /proc/stat ]; then
  btime=$(awk '$1 == "btime" { print $2 }' /proc/stat)
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  for p in $PIDS; do
    case "$p" in '' | *[!0-9]*) continue ;; esac
    [ -r "/proc/$p/stat" ] || continue
    # Field 22 (start time in ticks since boot) is the 20th after the ") " that ends the command name.
    s=$(sed 's/^.*) //' "/proc/$p/stat" | awk -v b="$btime" -v hz="$hz" '{ print b + int($20 / hz) }')
    if [ -z "$started" ] || [ "$s" -lt "$started" ]; then started=$s; oldest=$p; fi
  done
fi
if [ -z "$started" ]; then echo "note=no live process to compare (PIDS: ${PIDS:-none})"; exit 0; fi
echo "pid=$oldest"
echo "started=$started"
echo "started_at=$(date -d "@$started" '+%Y-%m-%d %H:%M:%S %Z' 2>/dev/null)"
limit=$((started + 2))
stale=no

if [ -n "$wd" ]; then
  if ! find "$wd" -maxdepth 0 -printf '' >/dev/null 2>&1; then
    echo "note=this find cannot -printf (not GNU find): code files not compared"
  else
    list=$(find "$wd" -xdev -maxdepth 8 \( -name .git -o -name node_modules -o -name venv -o -name .venv -o -name __pycache__ \
      -o -name .cache -o -name .npm -o -name logs -o -name log -o -name tmp -o -name .next \) -prune \
      -o -type f ! -name '*.log' ! -name '*.pyc' ! -name '.env' ! -name '.env.*' ! -name '*.pid' ! -name '*.sock' -printf '%T@ %p\n' 2>/dev/null |
      WD=$wd awk '
        BEGIN { n = split(ENVIRON["EXCLUDE"], x, "\n"); for (i = 1; i <= n; i++) { p = x[i]; sub(/\/+$/, "", p); if (p == "") continue; if (p !~ /^\//) p = ENVIRON["WD"] "/" p; ex[++k] = p } }
        { f = substr($0, index($0, " ") + 1); for (i = 1; i <= k; i++) if (f == ex[i] || index(f, ex[i] "/") == 1) next; print }' | sort -rn)
    newest=$(printf '%s\n' "$list" | head -n 1)
    if [ -n "$newest" ]; then
      echo "code_newest=${newest%%.*}"
      echo "code_file=${newest#* }"
    fi
    newer=$(printf '%s\n' "$list" | awk -v l="$limit" '$1 + 0 > l + 0' | sed 's/^[^ ]* //')
    n=$(printf '%s\n' "$newer" | grep -c .)
    echo "newer_count=$n"
    printf '%s\n' "$newer" | head -n 5 | sed "s|^$wd/||; s|^|newer=|" | grep -v '^newer=$'
    [ "$n" -eq 0 ] || stale=yes
  fi
fi

for p in "$@"; do
  [ -n "$p" ] || continue
  case "$p" in /*) ;; *) p="$wd/$p" ;; esac
  [ -e "$p" ] || continue
  look=$p
  for sp in "$p"/lib/python*/site-packages; do [ -d "$sp" ] && look=$sp; done
  if [ -d "$look" ]; then
    m=$(stat -c %Y "$p" "$look" "$look"/* "$look"/.package-lock.json 2>/dev/null | sort -rn | head -n 1)
  else
    m=$(stat -c %Y "$p" 2>/dev/null)
  fi
  if [ "$m" -gt "$limit" ]; then
    echo "path $p newest=$m changed=after"
    echo "changed=$p"
    stale=yes
  else
    echo "path $p newest=$m changed=before"
  fi
done
echo "stale=$stale"
exit 0
