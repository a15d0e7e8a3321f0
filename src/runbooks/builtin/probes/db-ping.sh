#!/bin/sh
# db-ping — does the app's database answer? Asks the database's own client
# (pg_isready, mysqladmin ping), else opens a TCP connection. Where: the host
# and port of the URL in the app's env file when there is one (what the app
# really uses), else the configured host and port. Needs no password: it never
# logs in, and it never prints the URL.
# usage: db-ping KIND
#   KIND  postgres, mysql, redis or mongodb (the last two: TCP only)
# env: DB_HOST DB_PORT DB_WORKDIR DB_ENV_FILE DB_URL_VAR
#   DB_HOST, DB_PORT  the configured address
#   DB_WORKDIR        the app's directory ('' = none: no env file)
#   DB_ENV_FILE       its env file, relative to DB_WORKDIR (or absolute), e.g. .env
#   DB_URL_VAR        the variable in it holding the URL, e.g. DATABASE_URL ('' = none)
# prints: via=url|config, addr=HOST:PORT, tool=pg_isready|mysqladmin|tcp,
#   reachable=yes|no|unknown, detail=THE TOOL'S FIRST LINE, note=WHY (URL not used)
set -u
kind=$1
host=$DB_HOST
port=$DB_PORT
via=config
case "$DB_ENV_FILE" in
  '') envf='' ;;
  /*) envf=$DB_ENV_FILE ;;
  *) if [ -n "$DB_WORKDIR" ]; then envf=$DB_WORKDIR/$DB_ENV_FILE; else envf=''; fi ;;
esac
case "$DB_URL_VAR" in
  '') ;;
  [!A-Za-z_]* | *[!A-Za-z0-9_]*) echo "note=$DB_URL_VAR is not a variable name" ;;
  *)
    if [ -n "$envf" ] && [ -r "$envf" ]; then
      url=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${DB_URL_VAR}[[:space:]]*=" "$envf" | tail -n 1 | sed -e 's/^[^=]*=[[:space:]]*//' -e "s/^[\"']//" -e "s/[\"'][[:space:]]*\$//" | tr -d '\r\n')
      if [ -n "$url" ]; then
        # scheme://[user[:password]@]host[:port][/db][?params] → host and port only
        rest=${url#*://}
        rest=${rest##*@}
        rest=${rest%%/*}
        rest=${rest%%\?*}
        case "$rest" in
          \[*\]:*) uh=${rest%]:*}; uh=${uh#[}; up=${rest##*]:} ;;
          \[*\]) uh=${rest#[}; uh=${uh%]}; up='' ;;
          *:*) uh=${rest%%:*}; up=${rest##*:} ;;
          *) uh=$rest; up='' ;;
        esac
        if [ -n "$uh" ]; then
          host=$uh
          case "$up" in '' | *[!0-9]*) ;; *) port=$up ;; esac
          via=url
        fi
      else
        echo "note=$DB_URL_VAR is not set in $envf"
      fi
    elif [ -n "$envf" ]; then
      echo "note=env file $envf is missing or unreadable"
    fi
    ;;
esac
case "$port" in '' | *[!0-9]*) echo "note=port $port is not a number"; exit 2 ;; esac
echo "via=$via"
echo "addr=$host:$port"

tcp() {
  if command -v bash >/dev/null 2>&1; then
    if command -v timeout >/dev/null 2>&1; then t='timeout 3'; else t=''; fi
    # shellcheck disable=SC2016 # $0 and $1 belong to the inner bash
    if $t bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then echo "reachable=yes"; else echo "reachable=no"; echo "detail=no TCP connection to $host:$port"; fi
  elif command -v nc >/dev/null 2>&1; then
    if nc -z -w 3 "$host" "$port" 2>/dev/null; then echo "reachable=yes"; else echo "reachable=no"; echo "detail=no TCP connection to $host:$port"; fi
  else
    echo "reachable=unknown"
    echo "detail=no pg_isready, mysqladmin, bash or nc on this host"
  fi
}

case "$kind" in
  postgres)
    if command -v pg_isready >/dev/null 2>&1; then
      echo "tool=pg_isready"
      out=$(pg_isready -h "$host" -p "$port" -t 5 2>&1)
      rc=$?
      echo "detail=$(printf '%s\n' "$out" | head -n 1)"
      # 0 accepting, 1 rejecting (starting up / shutting down), 2 no response, 3 bad parameters
      case $rc in 0) echo "reachable=yes" ;; 1) echo "reachable=no"; echo "rejecting=yes" ;; 2) echo "reachable=no" ;; *) echo "reachable=unknown" ;; esac
      exit 0
    fi
    ;;
  mysql)
    m=''
    if command -v mysqladmin >/dev/null 2>&1; then m=mysqladmin; elif command -v mariadb-admin >/dev/null 2>&1; then m=mariadb-admin; fi
    if [ -n "$m" ]; then
      echo "tool=$m"
      # Exit 0 whenever the server runs, even when it refuses this login (Access denied, Too many connections).
      out=$($m --connect-timeout=5 -h "$host" -P "$port" --protocol=TCP ping 2>&1)
      rc=$?
      # "mysqld is alive", or the line naming the error (not the hint after it)
      line=$(printf '%s\n' "$out" | grep -E "^error: |alive" | head -n 1)
      [ -n "$line" ] || line=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -n 1)
      echo "detail=$line"
      if [ $rc -eq 0 ]; then echo "reachable=yes"; else echo "reachable=no"; fi
      exit 0
    fi
    ;;
esac
echo "tool=tcp"
tcp
exit 0
