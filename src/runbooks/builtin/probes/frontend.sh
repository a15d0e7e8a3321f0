#!/bin/sh
# frontend — does nginx serve the latest frontend build, and has nginx loaded
# its config since it last changed? (Seed 003: the frontend was built but not
# deployed to nginx, and nginx was not reloaded.)
# usage: frontend WORKDIR BUILD SERVED [NGINX_CONFIG] [SITE]
#   WORKDIR       the app's folder; BUILD and SERVED are relative to it unless absolute
#   BUILD         where the build lands, e.g. frontend/dist
#   SERVED        the folder nginx serves, e.g. /var/www/app
#   NGINX_CONFIG  nginx's main config (its master is found by it); SITE its site file
# env: (none)
# prints: build=PATH served=PATH, build_files=N served_files=N,
#   index=same|differs|missing-in-build|missing-in-served (index.html checksums),
#   not_served_count=N and not_served=FILE (up to 5 build files absent from SERVED),
#   build_newest=EPOCH served_newest=EPOCH, deployed=yes|no;
#   with NGINX_CONFIG: nginx_master=PID, nginx_loaded=EPOCH (when its workers
#   started: nginx starts new ones on every reload), nginx_config_newest=EPOCH,
#   nginx_changed=FILE (config files written after that), nginx_reloaded=yes|no|unknown.
#   note=WHY when something could not be read.
set -u
wd=$1
build=$2
served=$3
conf=${4:-}
site=${5:-}
case "$build" in /*) ;; *) build="$wd/$build" ;; esac
case "$served" in /*) ;; *) served="$wd/$served" ;; esac
build=${build%/}
served=${served%/}
echo "build=$build"
echo "served=$served"

# files DIR — relative paths of the regular files under DIR, sorted.
files() {
  find "$1" -type f 2>/dev/null | sed "s|^$1/||" | LC_ALL=C sort
}
newest() {
  find "$1" -type f -printf '%T@\n' 2>/dev/null | sort -rn | head -n 1 | cut -d. -f1
}
sum() {
  cksum <"$1" | awk '{ print $1 "-" $2 }'
}

deployed=yes
if [ ! -d "$build" ]; then
  echo "note=build folder $build not found (was the frontend built?)"
  deployed=unknown
else
  bf=$(files "$build")
  sf=$(files "$served")
  echo "build_files=$(printf '%s\n' "$bf" | grep -c .)"
  echo "served_files=$(printf '%s\n' "$sf" | grep -c .)"
  [ -d "$served" ] || { echo "note=served folder $served not found"; deployed=no; }
  if [ ! -f "$build/index.html" ]; then
    echo "index=missing-in-build"
  elif [ ! -f "$served/index.html" ]; then
    echo "index=missing-in-served"
    deployed=no
  elif [ "$(sum "$build/index.html")" = "$(sum "$served/index.html")" ]; then
    echo "index=same"
  else
    echo "index=differs"
    deployed=no
  fi
  missing=$(printf '%s\n' "$bf" | SF=$sf awk 'BEGIN { n = split(ENVIRON["SF"], s, "\n"); for (i = 1; i <= n; i++) have[s[i]] = 1 } $0 != "" && !($0 in have)')
  n=$(printf '%s\n' "$missing" | grep -c .)
  echo "not_served_count=$n"
  printf '%s\n' "$missing" | head -n 5 | grep . | sed 's/^/not_served=/'
  [ "$n" -eq 0 ] || deployed=no
  echo "build_newest=$(newest "$build")"
  echo "served_newest=$(newest "$served")"
fi
echo "deployed=$deployed"

[ -n "$conf" ] || exit 0
# The nginx master running this config: "-c CONFIG" in its command line, or none for the default one.
master=$(ps -e -o pid=,args= 2>/dev/null | awk -v c="$conf" '
  /nginx: master process/ {
    has = index($0, " -c " c) || index($0, " -c" c)
    other = index($0, " -c ")
    if (has || (!other && c == "/etc/nginx/nginx.conf")) { print $1; exit }
  }')
if [ -z "$master" ]; then echo "note=no running nginx master for $conf"; echo "nginx_reloaded=unknown"; exit 0; fi
echo "nginx_master=$master"
btime=$(awk '$1 == "btime" { print $2 }' /proc/stat 2>/dev/null)
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
loaded=''
for w in $(ps -e -o pid=,ppid= | awk -v m="$master" '$2 == m { print $1 }'); do
  [ -r "/proc/$w/stat" ] || continue
  s=$(sed 's/^.*) //' "/proc/$w/stat" | awk -v b="$btime" -v hz="$hz" '{ print b + int($20 / hz) }')
  if [ -z "$loaded" ] || [ "$s" -lt "$loaded" ]; then loaded=$s; fi
done
if [ -z "$loaded" ]; then echo "note=nginx has no worker processes to date its last reload"; echo "nginx_reloaded=unknown"; exit 0; fi
echo "nginx_loaded=$loaded"
cn=0
re=yes
for f in "$conf" $site; do
  [ -f "$f" ] || continue
  m=$(stat -c %Y "$f" 2>/dev/null) || continue
  [ "$m" -le "$cn" ] || cn=$m
  if [ "$m" -gt $((loaded + 2)) ]; then echo "nginx_changed=$f"; re=no; fi
done
echo "nginx_config_newest=$cn"
echo "nginx_reloaded=$re"
exit 0
