#!/bin/sh
# nginx-reload — checks nginx's config, and only when it is accepted tells the
# running nginx to reload it (changes the host: only ever run as an approved
# remedy step).
# usage: nginx-reload CONFIG
#   CONFIG  the main config file, e.g. /etc/nginx/nginx.conf
# env: (none)
# sudo changes: /usr/sbin/nginx -t -c $1
# sudo changes: /usr/sbin/nginx -s reload -c $1
# sudo changes: /usr/sbin/nginx -t -c $1
# sudo changes: /usr/sbin/nginx -s reload -c $1
# prints nginx -t's own words, then run=nginx -s reload and its output;
#   exits 1 (reloading nothing) when nginx -t refuses the config, 127 when
#   nginx is not installed, else nginx -s reload's status.
# Goes through `sudo -n` unless already root (never prompts).
set -u
conf=$1
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}
if ! command -v nginx >/dev/null 2>&1; then
  echo "nginx is not installed on this host"
  exit 127
fi
if ! as_root nginx -t -c "$conf" 2>&1; then
  echo "note=nginx -t refused the config: not reloading (the running nginx keeps its old config)"
  exit 1
fi
echo "run=nginx -s reload -c $conf"
as_root nginx -s reload -c "$conf" 2>&1
