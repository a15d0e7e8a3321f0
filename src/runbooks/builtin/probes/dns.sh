#!/bin/sh
# dns — do these names resolve on this host? URLs are reduced to their host
# name; IP addresses and empty arguments are left out.
# usage: dns [NAME...]
#   NAME  a host name or a URL (https://api.example.com/v1 → api.example.com)
# env: (none)
# prints: nameserver=ADDR  (from /etc/resolv.conf),
#   resolved=NAME ADDRESS...  or  failed=NAME (WHY)  one line per name,
#   checked=N failures=N
set -u
if [ -r /etc/resolv.conf ]; then
  sed -n 's/^[[:space:]]*nameserver[[:space:]]*\([^[:space:]]*\).*/nameserver=\1/p' /etc/resolv.conf | head -n 3
fi
if command -v timeout >/dev/null 2>&1; then t='timeout 5'; else t=''; fi
n=0
bad=0
for arg in "$@"; do
  name=${arg#*://}
  name=${name%%/*}
  name=${name##*@}
  case "$name" in \[*) continue ;; esac
  name=${name%:*}
  case "$name" in '' | *[!A-Za-z0-9.-]*) continue ;; esac
  # An IPv4 address needs no resolving.
  case "$name" in *[!0-9.]*) ;; *) continue ;; esac
  n=$((n + 1))
  if command -v getent >/dev/null 2>&1; then
    out=$($t getent hosts "$name" 2>&1)
    rc=$?
    how=getent
  elif command -v nslookup >/dev/null 2>&1; then
    out=$($t nslookup "$name" 2>&1 | awk '/^Name:/ { n = 1; next } n && /^Address/ { print $NF }')
    rc=0
    [ -n "$out" ] || rc=2
    how=nslookup
  else
    echo "note=neither getent nor nslookup is installed"
    exit 0
  fi
  addrs=$(printf '%s\n' "$out" | awk '{ print $1 }' | sort -u | head -n 4 | tr '\n' ' ')
  if [ "$rc" -eq 0 ] && [ -n "$addrs" ]; then
    echo "resolved=$name ${addrs% }"
  else
    case "$rc" in
      2) why='not found' ;;
      124) why='no answer within 5 s' ;;
      *) why="exit $rc" ;;
    esac
    echo "failed=$name ($how: $why)"
    bad=$((bad + 1))
  fi
done
echo "checked=$n"
echo "failures=$bad"
exit 0
