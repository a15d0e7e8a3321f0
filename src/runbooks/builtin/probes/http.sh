#!/bin/sh
# http — one GET from the host itself: the status code and how long it took.
# usage: http URL [MAX_SECONDS]
#   MAX_SECONDS  give up after this long (default 10; connecting gets 3)
# env: (none)
# prints: http_code=N time=SECONDS (curl), or http_code=N (wget);
#   on failure curl's own line, e.g. "curl: (7) Failed to connect ...".
set -u
url=$1
max=${2:-10}
if command -v curl >/dev/null 2>&1; then
  curl -sS -o /dev/null -w 'http_code=%{http_code} time=%{time_total}\n' --connect-timeout 3 --max-time "$max" -- "$url" 2>&1
elif command -v wget >/dev/null 2>&1; then
  wget -q -O /dev/null -T "$max" -t 1 -S -- "$url" 2>&1 | sed -n 's/^ *HTTP\/[0-9.]* \([0-9]*\).*/http_code=\1/p'
else
  echo "note=neither curl nor wget is installed"
fi
exit 0
