#!/bin/sh
# db-sql — read-only checks inside the app's database, with its own client
# (psql, mysql) on this host. It connects with the URL in the app's env file
# when there is one (read here; the password goes to the client through
# PGPASSWORD / MYSQL_PWD, never on a command line, and nothing prints the
# URL), else with the configured host, port, user and database (a password
# then comes from ~/.pgpass / ~/.my.cnf). Every PostgreSQL session is
# read-only (default_transaction_read_only=on) with a statement_timeout.
# Query texts are shown with their string literals replaced by '…'.
# usage: db-sql KIND CHECK [ARG...]
#   KIND   postgres or mysql
#   CHECK  connections                  (both kinds)
#          locks                        (postgres: who blocks whom)
#          slow SECONDS                 (postgres: active queries running longer, lock waits left out)
#          stale TIMEOUT_MS [QUERY...]  (postgres: each query's stuck rows, in a READ ONLY transaction)
# env: DB_HOST DB_PORT DB_USER DB_NAME DB_WORKDIR DB_ENV_FILE DB_URL_VAR
#   DB_HOST, DB_PORT    the configured address
#   DB_USER, DB_NAME    the configured user and database ('' = the client's default)
#   DB_WORKDIR          the app's directory ('' = none: no env file)
#   DB_ENV_FILE         its env file, relative to DB_WORKDIR (or absolute), e.g. .env
#   DB_URL_VAR          the variable in it holding the URL ('' = none)
# prints: via=url|config, then per check
#   connections: connections=N max=N reserved=N usable=N pct=N, state NAME=N, holder user=U db=D client=C app=A count=N
#   locks:       blocked pid=N waiting=SECONDS since=TIME by=PID[,PID] query=TEXT,
#                blocking pid=N state=S xact=SECONDS since=TIME user=U query=TEXT, blocked_count=N, longest_wait=N
#   slow:        slow pid=N seconds=N since=TIME wait=TYPE/EVENT query=TEXT, slow_count=N, longest=N
#   stale:       stale check=N rows=N name=LABEL, row check=N COL=VALUE..., stale_checks=N stale_rows=N
#   or: refused=too-many-connections | unreachable=yes, error=THE CLIENT'S FIRST LINE, note=WHY
set -u
kind=$1
check=$2
shift 2
tab=$(printf '\t')

url=''
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
      if [ -n "$url" ]; then via=url; else echo "note=$DB_URL_VAR is not set in $envf"; fi
    elif [ -n "$envf" ]; then
      echo "note=env file $envf is missing or unreadable"
    fi
    ;;
esac
echo "via=$via"

# Percent-decodes stdin (a URL's password or user).
pct_decode() {
  LC_ALL=C awk '{
    out = ""; s = $0
    while (match(s, /%[0-9A-Fa-f][0-9A-Fa-f]/)) {
      out = out substr(s, 1, RSTART - 1) sprintf("%c", index("0123456789abcdef", tolower(substr(s, RSTART + 1, 1))) * 16 + index("0123456789abcdef", tolower(substr(s, RSTART + 2, 1))) - 17)
      s = substr(s, RSTART + 3)
    }
    printf "%s", out s
  }'
}

# scheme://[user[:password]@]host[:port][/db][?params] → u_user u_pass u_host u_port u_db, and u_rest (all after ://)
u_user='' u_pass='' u_host='' u_port='' u_db='' u_rest=''
if [ -n "$url" ]; then
  case "$url" in
    *://*)
      u_rest=${url#*://}
      ;;
    *) echo "note=$DB_URL_VAR does not hold a URL (scheme://...)"; url='' via=config ;;
  esac
fi
if [ -n "$url" ]; then
  hostpart=$u_rest
  case "$u_rest" in
    *@*)
      creds=${u_rest%%@*}
      hostpart=${u_rest#*@}
      u_user=$(printf '%s' "${creds%%:*}" | pct_decode)
      if [ "${creds%%:*}" != "$creds" ]; then u_pass=$(printf '%s' "${creds#*:}" | pct_decode); fi
      ;;
  esac
  addr=${hostpart%%/*}
  addr=${addr%%\?*}
  case "$hostpart" in */*) u_db=${hostpart#*/}; u_db=${u_db%%\?*} ;; esac
  case "$addr" in
    \[*\]:*) u_host=${addr%]:*}; u_host=${u_host#[}; u_port=${addr##*]:} ;;
    *:*) u_host=${addr%%:*}; u_port=${addr##*:} ;;
    *) u_host=$addr ;;
  esac
  # What psql gets: the URL without its password, under the scheme libpq knows (postgres+asyncpg:// → postgresql://).
  case "$u_rest" in
    *@*) u_rest="${creds%%:*}@$hostpart" ;;
  esac
fi

# Names what a failed connection says, then prints the client's first line.
conn_error() {
  first=$(printf '%s\n' "$1" | grep -v '^[[:space:]]*$' | head -n 1)
  case "$1" in
    *'too many clients'* | *'remaining connection slots are reserved'* | *'Too many connections'* | *'too many connections'*) echo "refused=too-many-connections" ;;
    *'Connection refused'* | *'could not connect'* | *'timeout expired'* | *"Can't connect"* | *'could not translate host name'* | *'Unknown server host'* | *'No route to host'*) echo "unreachable=yes" ;;
  esac
  echo "error=$first"
}

# ---------------------------------------------------------------- PostgreSQL

pg() {
  if [ -n "$url" ]; then
    psql -X -q -A -F "$tab" -v ON_ERROR_STOP=1 -P footer=off -d "postgresql://$u_rest" "$@"
  else
    psql -X -q -A -F "$tab" -v ON_ERROR_STOP=1 -P footer=off -h "$DB_HOST" -p "$DB_PORT" ${DB_USER:+-U "$DB_USER"} ${DB_NAME:+-d "$DB_NAME"} "$@"
  fi
}

# A query's text for people: string literals become '…', whitespace one space, at most 160 characters.
CLEAN="left(regexp_replace(regexp_replace(coalesce(query, ''), '''([^'']|'''')*''', '''…''', 'g'), '[[:space:]]+', ' ', 'g'), 160)"
STAMP="'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

pg_check() {
  case "$check" in
    connections)
      sql1="SELECT 'total', current_setting('max_connections'), current_setting('superuser_reserved_connections'), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
      sql2="SELECT 'state', coalesce(state, '-'), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 2 ORDER BY 3 DESC"
      sql3="SELECT 'holder', coalesce(usename, '-'), coalesce(datname, '-'), coalesce(host(client_addr), 'local'), coalesce(nullif(application_name, ''), '-'), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 2, 3, 4, 5 ORDER BY 6 DESC LIMIT 5"
      out=$(pg -t -c "$sql1" -c "$sql2" -c "$sql3" 2>&1) || { conn_error "$out"; return; }
      printf '%s\n' "$out" | awk -F "$tab" '
        $1 == "total" { used = $4; usable = $2 - $3; if (usable < 1) usable = 1
          print "connections=" used " max=" $2 " reserved=" $3 " usable=" usable " pct=" int(used * 100 / usable) }
        $1 == "state" { s = $2; gsub(/ /, "_", s); print "state " s "=" $3 }
        $1 == "holder" { print "holder user=" $2 " db=" $3 " client=" $4 " app=" $5 " count=" $6 }'
      ;;
    locks)
      sql1="SELECT 'blocked', pid, floor(extract(epoch FROM now() - query_start))::int, to_char(query_start AT TIME ZONE 'UTC', $STAMP), array_to_string(pg_blocking_pids(pid), ','), $CLEAN
        FROM pg_stat_activity WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0 ORDER BY query_start LIMIT 10"
      sql2="SELECT 'blocking', pid, replace(coalesce(state, '-'), ' ', '_'), floor(extract(epoch FROM now() - coalesce(xact_start, query_start)))::int, to_char(coalesce(xact_start, query_start) AT TIME ZONE 'UTC', $STAMP), coalesce(usename, '-'), $CLEAN
        FROM pg_stat_activity WHERE pid IN (SELECT unnest(pg_blocking_pids(pid)) FROM pg_stat_activity WHERE datname = current_database()) ORDER BY xact_start LIMIT 10"
      out=$(pg -t -c "$sql1" -c "$sql2" 2>&1) || { conn_error "$out"; return; }
      printf '%s\n' "$out" | awk -F "$tab" '
        $1 == "blocked" { q = $6; for (i = 7; i <= NF; i++) q = q " " $i
          print "blocked pid=" $2 " waiting=" $3 " since=" $4 " by=" $5 " query=" q; n++; if ($3 + 0 > w) w = $3 + 0 }
        $1 == "blocking" { q = $7; for (i = 8; i <= NF; i++) q = q " " $i
          print "blocking pid=" $2 " state=" $3 " xact=" $4 " since=" $5 " user=" $6 " query=" q }
        END { print "blocked_count=" n + 0; print "longest_wait=" w + 0 }'
      ;;
    slow)
      secs=${1:-}
      case "$secs" in '' | . | *[!0-9.]* | *.*.*) echo "note=SECONDS must be a number"; exit 2 ;; esac
      sql="SELECT 'slow', pid, floor(extract(epoch FROM now() - query_start))::int, to_char(query_start AT TIME ZONE 'UTC', $STAMP), coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-'), $CLEAN
        FROM pg_stat_activity
        WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()
          AND coalesce(wait_event_type, '') <> 'Lock' AND query_start < now() - make_interval(secs => $secs)
        ORDER BY query_start LIMIT 5"
      out=$(pg -t -c "$sql" 2>&1) || { conn_error "$out"; return; }
      printf '%s\n' "$out" | awk -F "$tab" '
        $1 == "slow" { q = $6; for (i = 7; i <= NF; i++) q = q " " $i
          print "slow pid=" $2 " seconds=" $3 " since=" $4 " wait=" $5 " query=" q; n++; if ($3 + 0 > m) m = $3 + 0 }
        END { print "slow_count=" n + 0; print "longest=" m + 0 }'
      ;;
    stale)
      ms=${1:-}
      case "$ms" in '' | *[!0-9]*) echo "note=TIMEOUT_MS must be a whole number"; exit 2 ;; esac
      shift
      i=0 checks=0 rows=0
      for q in "$@"; do
        i=$((i + 1))
        case "$q" in
          --*) name=$(printf '%s\n' "$q" | head -n 1 | sed -e 's/^--[[:space:]]*//') ;;
          *) name=$(printf '%s' "$q" | tr '\n\t' '  ' | sed -e 's/  */ /g' | cut -c 1-80) ;;
        esac
        # One statement only: as a subquery it cannot write (no data-modifying WITH), and the transaction is READ ONLY anyway.
        case "$q" in *';'*) echo "error check=$i one statement per query, no ; name=$name"; continue ;; esac
        nl='
'
        out=$(pg -c "BEGIN READ ONLY" -c "SET LOCAL statement_timeout = $ms" -c "SELECT count(*) OVER () AS stale_rows, stale.* FROM ($q$nl) AS stale LIMIT 3" -c "ROLLBACK" 2>&1)
        rc=$?
        if [ $rc -ne 0 ]; then
          case "$out" in
            *'too many clients'* | *'remaining connection slots'* | *'could not connect'* | *'Connection refused'* | *'connection to server'*) conn_error "$out"; return ;;
          esac
          echo "error check=$i $(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | head -n 1) name=$name"
          continue
        fi
        n=$(printf '%s\n' "$out" | awk -F "$tab" 'NR == 2 { print $1 + 0; found = 1 } END { if (!found) print 0 }')
        echo "stale check=$i rows=$n name=$name"
        if [ "$n" -gt 0 ]; then checks=$((checks + 1)); rows=$((rows + n)); fi
        printf '%s\n' "$out" | awk -F "$tab" -v check="$i" '
          function secretish(v) {
            return v ~ /^eyJ[A-Za-z0-9_-]+\./ || (length(v) >= 20 && v ~ /^[A-Za-z0-9+\/=_-]+$/ && v ~ /[0-9]/ && v ~ /[A-Za-z]/)
          }
          NR == 1 { for (c = 2; c <= NF; c++) col[c] = $c; next }
          {
            line = "row check=" check
            for (c = 2; c <= NF; c++) {
              v = $c
              if (tolower(col[c]) ~ /pass|secret|token|key|salt|hash|cred|auth|otp/ || secretish(v)) v = "«hidden»"
              line = line " " col[c] "=" v
            }
            print substr(line, 1, 200)
          }'
      done
      echo "stale_checks=$checks"
      echo "stale_rows=$rows"
      ;;
    *) echo "note=unknown check $check"; exit 2 ;;
  esac
}

# ---------------------------------------------------------------- MySQL / MariaDB

my_check() {
  h=$DB_HOST p=$DB_PORT u=$DB_USER db=$DB_NAME
  if [ -n "$url" ]; then
    h=$u_host u=$u_user db=$u_db
    case "$u_port" in '' | *[!0-9]*) p=3306 ;; *) p=$u_port ;; esac
    if [ -n "$u_pass" ]; then MYSQL_PWD=$u_pass; export MYSQL_PWD; fi
  fi
  case "$check" in
    connections)
      sql="SHOW GLOBAL STATUS LIKE 'Threads_connected'; SELECT 'max', @@max_connections;
        SELECT 'state', COMMAND, COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() GROUP BY COMMAND ORDER BY 3 DESC;
        SELECT 'holder', USER, COALESCE(DB, '-'), SUBSTRING_INDEX(HOST, ':', 1), COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() GROUP BY 2, 3, 4 ORDER BY 5 DESC LIMIT 5"
      out=$($myc --connect-timeout=5 --protocol=TCP -N -B -h "$h" -P "$p" ${u:+-u "$u"} -e "$sql" ${db:+"$db"} 2>&1) || { conn_error "$out"; return; }
      printf '%s\n' "$out" | awk -F "$tab" '
        $1 == "Threads_connected" { used = $2 - 1 }
        $1 == "max" { max = $2 }
        $1 == "state" { s = $2; gsub(/ /, "_", s); st[++ns] = "state " s "=" $3 }
        $1 == "holder" { hd[++nh] = "holder user=" $2 " db=" $3 " client=" $4 " count=" $5 }
        END {
          if (max < 1) max = 1
          print "connections=" used " max=" max " reserved=0 usable=" max " pct=" int(used * 100 / max)
          for (i = 1; i <= ns; i++) print st[i]
          for (i = 1; i <= nh; i++) print hd[i]
        }'
      ;;
    locks | slow | stale) echo "note=the $check check reads PostgreSQL only" ;;
    *) echo "note=unknown check $check"; exit 2 ;;
  esac
}

export PGCONNECT_TIMEOUT=5 PGAPPNAME=triage
if [ -n "$url" ] && [ -n "$u_pass" ] && [ "$kind" = postgres ]; then PGPASSWORD=$u_pass; export PGPASSWORD; fi
PGOPTIONS='-c default_transaction_read_only=on -c statement_timeout=10000 -c lock_timeout=2000'
export PGOPTIONS

case "$kind" in
  postgres)
    if ! command -v psql >/dev/null 2>&1; then echo "note=psql is not installed on this host"; exit 0; fi
    pg_check "$@"
    ;;
  mysql)
    myc=''
    if command -v mysql >/dev/null 2>&1; then myc=mysql; elif command -v mariadb >/dev/null 2>&1; then myc=mariadb; fi
    if [ -z "$myc" ]; then echo "note=neither mysql nor mariadb (the client) is installed on this host"; exit 0; fi
    my_check "$@"
    ;;
  *) echo "note=no SQL checks for $kind" ;;
esac
exit 0
