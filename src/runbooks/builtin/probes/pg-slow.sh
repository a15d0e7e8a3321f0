#!/bin/sh
# pg-slow — queries in the app's PostgreSQL database that have run longer than
# a limit (pg_stat_activity). The database URL is read from the app's env file
# here on the host and handed to psql; it is never printed, and its password
# reaches psql through PGPASSWORD, not the command line.
# usage: pg-slow ENV_FILE URL_VAR SECONDS
#   ENV_FILE  the app's env file, e.g. /srv/app/.env
#   URL_VAR   the variable in it holding the URL, e.g. DATABASE_URL
#   SECONDS   a query running longer than this counts as slow (e.g. 5 or 0.5)
# env: (none)
# prints: slow pid=N seconds=N wait=TYPE/EVENT query=TEXT (up to 5, longest first;
#   the query cut at 160 characters), slow_count=N, longest=N,
#   or note=WHY (no env file, no variable, no psql) / error=PSQL'S FIRST LINE
set -u
f=$1
var=$2
secs=$3
case "$secs" in '' | . | *[!0-9.]* | *.*.*) echo "note=SECONDS must be a number"; exit 2 ;; esac
case "$var" in '' | [!A-Za-z_]* | *[!A-Za-z0-9_]*) echo "note=$var is not a variable name"; exit 2 ;; esac
if [ ! -r "$f" ]; then echo "note=env file $f is missing or unreadable"; exit 0; fi
url=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${var}[[:space:]]*=" "$f" | tail -n 1 | sed -e 's/^[^=]*=[[:space:]]*//' -e "s/^[\"']//" -e "s/[\"'][[:space:]]*\$//" | tr -d '\r\n')
if [ -z "$url" ]; then echo "note=$var is not set in $f"; exit 0; fi
if ! command -v psql >/dev/null 2>&1; then echo "note=psql is not installed on this host"; exit 0; fi

# postgres://user:password@host:port/db → the password apart (percent-decoded), the rest for psql.
case "$url" in
  *://*@*)
    scheme=${url%%://*}
    rest=${url#*://}
    creds=${rest%%@*}
    hostpart=${rest#*@}
    user=${creds%%:*}
    if [ "$user" != "$creds" ]; then
      PGPASSWORD=$(printf '%s' "${creds#*:}" | LC_ALL=C awk '{
        out = ""; s = $0
        while (match(s, /%[0-9A-Fa-f][0-9A-Fa-f]/)) {
          out = out substr(s, 1, RSTART - 1) sprintf("%c", index("0123456789abcdef", tolower(substr(s, RSTART + 1, 1))) * 16 + index("0123456789abcdef", tolower(substr(s, RSTART + 2, 1))) - 17)
          s = substr(s, RSTART + 3)
        }
        printf "%s", out s
      }')
      export PGPASSWORD
    fi
    url="$scheme://$user@$hostpart"
    ;;
esac
export PGCONNECT_TIMEOUT=5

sql="SELECT pid, floor(extract(epoch FROM now() - query_start))::int, coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-'), left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 160)
FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()
  AND query_start < now() - make_interval(secs => $secs)
ORDER BY query_start LIMIT 5"
if ! out=$(psql -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -d "$url" -c "$sql" 2>&1); then
  echo "error=$(printf '%s\n' "$out" | head -n 1)"
  exit 0
fi
printf '%s\n' "$out" | awk -F'|' 'NF >= 4 {
  q = $4; for (i = 5; i <= NF; i++) q = q "|" $i
  print "slow pid=" $1 " seconds=" $2 " wait=" $3 " query=" q
  n++; if ($2 + 0 > max) max = $2 + 0
}
END { print "slow_count=" n + 0; print "longest=" max + 0 }'
exit 0
