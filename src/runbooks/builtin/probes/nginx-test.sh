#!/bin/sh
# nginx-test — does nginx accept its configuration (`nginx -t`)?
# usage: nginx-test CONFIG
#   CONFIG  the main config file, e.g. /etc/nginx/nginx.conf
# env: (none)
# prints nginx -t's own words (stdout and stderr); exits with its status,
#   or 127 with "nginx is not installed on this host".
set -u
if ! command -v nginx >/dev/null 2>&1; then
  echo "nginx is not installed on this host"
  exit 127
fi
nginx -t -c "$1" 2>&1
