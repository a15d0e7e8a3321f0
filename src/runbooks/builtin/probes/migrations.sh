#!/bin/sh
# migrations — has the database applied every migration the code ships?
# (Seed 003: a deploy ran none of the nine payment SQL files.)
# usage: migrations WORKDIR ENV_FILE URL_ENV VENV SQL_DIR ALEMBIC_INI PRISMA_SCHEMA
#   WORKDIR        the app's folder; the paths below are relative to it unless absolute
#   ENV_FILE       the app's env file, where URL_ENV is read (here, on the host)
#   URL_ENV        the variable that holds the database URL, e.g. DATABASE_URL (may be empty)
#   VENV           a virtualenv whose bin/alembic to prefer (may be empty)
#   SQL_DIR        a folder of plain .sql files applied in name order, or empty
#   ALEMBIC_INI    an alembic.ini, or empty
#   PRISMA_SCHEMA  a schema.prisma, or empty (the first of the three given is checked)
# env: (none)
# prints: kind=KIND, then
#   sql:     files=N, tracking=schema_migrations|none, and per file in name order
#            migration FILE applied (listed in schema_migrations | its tables and columns exist)
#            migration FILE pending: missing table T, column T.C ...
#            migration FILE pending: not listed in schema_migrations
#            migration FILE unknown: creates no table or column, no tracking table
#   alembic: current=REV... heads=REV...
#   prisma:  the names `prisma migrate status` lists as not yet applied
#   pending=FILE (each unapplied migration), pending_count=N,
#   db=ok|unreachable, note=WHY.
# The URL is read from ENV_FILE here and handed to psql as PG* environment
# variables (never as an argument, which `ps` would show); it is never printed.
set -u
wd=$1
envf=$2
urlenv=$3
venv=$4
kind=none
where=''
if [ -n "$5" ]; then kind=sql; where=$5; elif [ -n "$6" ]; then kind=alembic; where=$6; elif [ -n "$7" ]; then kind=prisma; where=$7; fi
abs() {
  case "$1" in /* | '') printf '%s\n' "$1" ;; *) printf '%s\n' "$wd/$1" ;; esac
}
where=$(abs "$where")
envf=$(abs "$envf")
venv=$(abs "$venv")
echo "kind=$kind"

# The database URL from the env file (last assignment wins, quotes dropped), or nothing.
url=''
case "$urlenv" in *[!A-Za-z0-9_]* | [0-9]*) echo "note=$urlenv is not a variable name"; urlenv='' ;; esac
if [ -n "$urlenv" ] && [ -r "$envf" ]; then
  url=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${urlenv}[[:space:]]*=" "$envf" | tail -n 1 | sed -e 's/^[^=]*=[[:space:]]*//' -e "s/^[\"']//" -e "s/[\"'][[:space:]]*\$//" | tr -d '\r')
fi

# export_pg URL — PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE from a postgres:// URL.
pct() {
  printf '%s\n' "$1" | awk 'BEGIN { for (i = 1; i < 256; i++) c[sprintf("%02x", i)] = sprintf("%c", i) }
    { o = ""; s = $0
      while (match(s, /%[0-9A-Fa-f][0-9A-Fa-f]/)) { o = o substr(s, 1, RSTART - 1) c[tolower(substr(s, RSTART + 1, 2))]; s = substr(s, RSTART + 3) }
      print o s }'
}
export_pg() {
  u=$1
  case "$u" in postgres://* | postgresql://* | postgresql+*://* | postgres+*://*) ;; *) return 1 ;; esac
  rest=${u#*://}
  query=''
  case "$rest" in *\?*) query=${rest#*\?}; rest=${rest%%\?*} ;; esac
  db=''
  case "$rest" in */*) db=${rest#*/}; rest=${rest%%/*} ;; esac
  cred=''
  case "$rest" in *@*) cred=${rest%@*}; rest=${rest##*@} ;; esac
  port=''
  case "$rest" in
    \[*\]:*) port=${rest##*:}; rest=${rest%:*} ;;
    \[*) ;;
    *:*) port=${rest##*:}; rest=${rest%%:*} ;;
  esac
  rest=${rest#[}
  rest=${rest%]}
  [ -z "$rest" ] || PGHOST=$(pct "$rest")
  [ -z "$port" ] || PGPORT=$port
  if [ -n "$cred" ]; then
    case "$cred" in
      *:*) PGUSER=$(pct "${cred%%:*}"); PGPASSWORD=$(pct "${cred#*:}") ;;
      *) PGUSER=$(pct "$cred") ;;
    esac
  fi
  [ -z "$db" ] || PGDATABASE=$(pct "$db")
  mode=$(printf '%s\n' "$query" | tr '&' '\n' | sed -n 's/^sslmode=//p' | head -n 1)
  [ -z "$mode" ] || PGSSLMODE=$mode
  export PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSSLMODE
  return 0
}

sql_files() {
  for f in "$where"/*.sql; do [ -f "$f" ] && printf '%s\n' "${f##*/}"; done | LC_ALL=C sort
}

# objects FILE — what a SQL file creates: "t TABLE" and "c TABLE.COLUMN", lowercased.
objects() {
  sed 's/--.*$//' "$1" | tr '\r\n\t' '   ' | tr '[:upper:]' '[:lower:]' | tr -d '"' | awk -v RS=';' '
    {
      s = " " $0 " "; gsub(/[ ]+/, " ", s)
      if (match(s, / create (unlogged |temp |temporary )?table (if not exists )?[a-z0-9_.]+/)) {
        w = substr(s, RSTART, RLENGTH); n = split(w, a, " "); print "t", a[n]
      }
      if (match(s, / alter table (if exists )?(only )?[a-z0-9_.]+ /)) {
        w = substr(s, RSTART, RLENGTH); n = split(w, a, " "); t = a[n]
        rest = substr(s, RSTART + RLENGTH - 1)
        while (match(rest, /(^|,) ?add (column )?(if not exists )?[a-z0-9_]+/)) {
          w = substr(rest, RSTART, RLENGTH); n = split(w, a, " "); c = a[n]
          rest = substr(rest, RSTART + RLENGTH)
          if (c !~ /^(constraint|primary|unique|foreign|check|exclude|index)$/) print "c", t "." c
        }
      }
    }'
}

sql_kind() {
  if [ ! -d "$where" ]; then echo "note=migrations folder $where not found"; return; fi
  files=$(sql_files)
  echo "files=$(printf '%s\n' "$files" | grep -c .)"
  [ -n "$files" ] || return
  if ! command -v psql >/dev/null 2>&1; then echo "note=psql not found: cannot ask the database"; return; fi
  if [ -z "$url" ]; then echo "note=no database URL: ${urlenv:-database.urlEnv} is not set in $envf"; return; fi
  if ! export_pg "$url"; then echo "note=${urlenv} is not a postgres:// URL"; return; fi
  PGCONNECT_TIMEOUT=5
  export PGCONNECT_TIMEOUT
  q="select 't '||table_schema||'.'||table_name from information_schema.tables where table_schema not in ('pg_catalog','information_schema')
     union all select 'c '||table_schema||'.'||table_name||'.'||column_name from information_schema.columns where table_schema not in ('pg_catalog','information_schema')
     union all select 'm '||coalesce(to_regclass('schema_migrations')::text, '')"
  if ! have=$(psql -XAtq -v ON_ERROR_STOP=1 -c "$q" 2>&1); then
    echo "db=unreachable"
    echo "note=$(printf '%s\n' "$have" | head -n 1)"
    return
  fi
  echo "db=ok"
  listed=''
  if printf '%s\n' "$have" | grep -q '^m .'; then
    echo "tracking=schema_migrations"
    listed=$(psql -XAtq -v ON_ERROR_STOP=1 -c "select v.value from schema_migrations t, json_each_text(row_to_json(t)) v" 2>/dev/null)
  else
    echo "tracking=none"
  fi
  printf '%s\n' "$files" | while read -r f; do
    stem=${f%.sql}
    ver=${stem%%[!0-9]*}
    if [ -n "$listed" ] && printf '%s\n' "$listed" | grep -qxF -e "$f" -e "$stem" -e "${ver:-$f}"; then
      echo "migration $f applied (listed in schema_migrations)"
      continue
    fi
    obj=$(objects "$where/$f")
    if [ -z "$obj" ]; then
      if [ -n "$listed" ] || printf '%s\n' "$have" | grep -q '^m .'; then
        echo "migration $f pending: not listed in schema_migrations"
        echo "pending=$f"
      else
        echo "migration $f unknown: creates no table or column, no tracking table"
      fi
      continue
    fi
    lack=$(printf '%s\n' "$obj" | HAVE=$have awk '
      BEGIN { n = split(ENVIRON["HAVE"], h, "\n"); for (i = 1; i <= n; i++) { k = h[i]; x[k] = 1; sub(/^[tc] [^.]*\./, substr(k, 1, 2), k); x[k] = 1 } }
      { key = $1 " " $2; if (!(key in x)) { printf "%s%s %s", sep, ($1 == "t" ? "table" : "column"), $2; sep = ", " } }')
    if [ -z "$lack" ]; then
      echo "migration $f applied (its tables and columns exist)"
    else
      echo "migration $f pending: missing $lack"
      echo "pending=$f"
    fi
  done
}

alembic_kind() {
  bin=alembic
  if [ -n "$venv" ] && [ -x "$venv/bin/alembic" ]; then bin="$venv/bin/alembic"; fi
  if ! command -v "$bin" >/dev/null 2>&1; then echo "note=alembic not found (in $venv/bin or on PATH)"; return; fi
  [ -z "$url" ] || eval "$urlenv=\$url; export $urlenv"
  cur=$(cd "$wd" && "$bin" -c "$where" current 2>&1) || { echo "db=unreachable"; echo "note=alembic current: $(printf '%s\n' "$cur" | tail -n 1)"; return; }
  heads=$(cd "$wd" && "$bin" -c "$where" heads 2>&1) || { echo "note=alembic heads: $(printf '%s\n' "$heads" | tail -n 1)"; return; }
  echo "db=ok"
  c=$(printf '%s\n' "$cur" | grep -oE '^[0-9a-f]{4,}' | tr '\n' ' ')
  h=$(printf '%s\n' "$heads" | grep -oE '^[0-9a-f]{4,}' | tr '\n' ' ')
  echo "current=${c:-(none)}"
  echo "heads=$h"
  for r in $h; do
    case " $c" in *" $r "*) ;; *) echo "pending=$r (alembic head; the database is at ${c:-no revision})" ;; esac
  done
}

prisma_kind() {
  bin=prisma
  if [ -x "$wd/node_modules/.bin/prisma" ]; then bin="$wd/node_modules/.bin/prisma"; fi
  if ! command -v "$bin" >/dev/null 2>&1; then echo "note=prisma not found (in node_modules/.bin or on PATH)"; return; fi
  [ -z "$url" ] || eval "$urlenv=\$url; export $urlenv"
  out=$(cd "$wd" && "$bin" migrate status --schema "$where" 2>&1)
  rc=$?
  case "$out" in
    *P1001* | *"Can't reach database"*) echo "db=unreachable"; return ;;
  esac
  echo "db=ok"
  # "Following migration(s) have not yet been applied:" then one name a line, up to a blank line.
  printf '%s\n' "$out" | awk '/have not yet been applied/ { on = 1; next } on && /^[[:space:]]*$/ { if (seen) on = 0; next } on { gsub(/[[:space:]]/, ""); print "pending=" $0; seen = 1 }'
  if [ "$rc" -ne 0 ] && ! printf '%s\n' "$out" | grep -q 'have not yet been applied'; then
    echo "note=prisma migrate status: $(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)"
  fi
}

out=$(case "$kind" in
  sql) sql_kind ;;
  alembic) alembic_kind ;;
  prisma) prisma_kind ;;
  *) echo "note=no migrations given (SQL_DIR, ALEMBIC_INI or PRISMA_SCHEMA)" ;;
esac)
printf '%s\n' "$out"
echo "pending_count=$(printf '%s\n' "$out" | grep -c '^pending=')"
exit 0
