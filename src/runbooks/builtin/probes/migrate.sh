#!/bin/sh
# migrate — applies the database migrations the migrations probe finds
# pending (changes the host: only ever run as an approved remedy step).
# usage: migrate WORKDIR ENV_FILE URL_ENV VENV SQL_DIR ALEMBIC_INI PRISMA_SCHEMA
#   the same arguments as the migrations probe (the first of SQL_DIR,
#   ALEMBIC_INI, PRISMA_SCHEMA given is applied):
#   sql:     each pending .sql file in name order (pending as the migrations
#            probe decides it, computed here the same way), one
#            `psql -v ON_ERROR_STOP=1 --single-transaction -f FILE` per file,
#            stopping at the first that fails (its transaction rolled back);
#            when a schema_migrations table exists the file is recorded in it
#            in the same transaction
#   alembic: alembic -c ALEMBIC_INI upgrade head, in WORKDIR (VENV's alembic preferred)
#   prisma:  prisma migrate deploy --schema PRISMA_SCHEMA, in WORKDIR
#            (node_modules/.bin/prisma, else npx --no-install prisma)
# env: (none)
# prints: kind=KIND, pending=FILE (sql, before applying), run=COMMAND for
#   each command, the tool's own output, applied=FILE / failed=FILE (sql),
#   recorded=COLUMN (sql, when tracked), note=WHY;
#   exits 0 when everything pending was applied (or nothing was), 1 when a
#   migration failed, 2 when it could not try (no psql, no URL, no database).
# The URL is read from ENV_FILE here and handed to psql as PG* environment
# variables (PGPASSWORD for the password), to alembic and prisma as URL_ENV;
# it is never an argument and never printed.
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

# objects FILE — what a SQL file creates: "t TABLE" and "c TABLE.COLUMN", lowercased (as the migrations probe reads it).
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

# pending_sql — the pending files, one a line, decided as the migrations probe decides.
# Needs $have (the database's tables, columns and tracking table) and $listed.
pending_sql() {
  printf '%s\n' "$files" | while read -r f; do
    stem=${f%.sql}
    ver=${stem%%[!0-9]*}
    if [ -n "$listed" ] && printf '%s\n' "$listed" | grep -qxF -e "$f" -e "$stem" -e "${ver:-$f}"; then continue; fi
    obj=$(objects "$where/$f")
    if [ -z "$obj" ]; then
      # no tracking table and nothing it creates: unknown, not applied blindly
      [ "$tracked" = yes ] && printf '%s\n' "$f"
      continue
    fi
    lack=$(printf '%s\n' "$obj" | HAVE=$have awk '
      BEGIN { n = split(ENVIRON["HAVE"], h, "\n"); for (i = 1; i <= n; i++) { k = h[i]; x[k] = 1; sub(/^[tc] [^.]*\./, substr(k, 1, 2), k); x[k] = 1 } }
      { key = $1 " " $2; if (!(key in x)) { print; exit } }')
    [ -z "$lack" ] || printf '%s\n' "$f"
  done
}

sql_kind() {
  if [ ! -d "$where" ]; then echo "note=migrations folder $where not found"; return 2; fi
  files=$(sql_files)
  if [ -z "$files" ]; then echo "note=no .sql files in $where"; return 0; fi
  if ! command -v psql >/dev/null 2>&1; then echo "note=psql not found: cannot apply"; return 2; fi
  if [ -z "$url" ]; then echo "note=no database URL: ${urlenv:-database.urlEnv} is not set in $envf"; return 2; fi
  if ! export_pg "$url"; then echo "note=${urlenv} is not a postgres:// URL"; return 2; fi
  PGCONNECT_TIMEOUT=5
  export PGCONNECT_TIMEOUT
  q="select 't '||table_schema||'.'||table_name from information_schema.tables where table_schema not in ('pg_catalog','information_schema')
     union all select 'c '||table_schema||'.'||table_name||'.'||column_name from information_schema.columns where table_schema not in ('pg_catalog','information_schema')
     union all select 'm '||coalesce(to_regclass('schema_migrations')::text, '')"
  if ! have=$(psql -XAtq -v ON_ERROR_STOP=1 -c "$q" 2>&1); then
    echo "note=the database does not answer: $(printf '%s\n' "$have" | head -n 1)"
    return 2
  fi
  listed=''
  tracked=no
  col=''
  coltype=''
  if printf '%s\n' "$have" | grep -q '^m .'; then
    tracked=yes
    listed=$(psql -XAtq -v ON_ERROR_STOP=1 -c "select v.value from schema_migrations t, json_each_text(row_to_json(t)) v" 2>/dev/null)
    # the column a file is recorded in: the first one without a default (an id serial is filled by itself)
    c=$(psql -XAtq -v ON_ERROR_STOP=1 -F ' ' -c "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
          where a.attrelid = to_regclass('schema_migrations') and a.attnum > 0 and not a.attisdropped and not a.atthasdef and a.attidentity = ''
          order by a.attnum limit 1" 2>/dev/null)
    col=${c%% *}
    coltype=${c#* }
  fi
  pending=$(pending_sql)
  if [ -z "$pending" ]; then echo "note=nothing pending"; return 0; fi
  printf '%s\n' "$pending" | sed 's/^/pending=/'
  if [ "$tracked" = yes ] && [ -z "$col" ]; then echo "note=schema_migrations has no column to record a file in: applied files are not recorded"; fi
  [ -z "$col" ] || echo "recorded=$col"
  # Each file in its own transaction; the first failure stops the rest (later files may depend on it).
  while IFS= read -r f; do
    rec=$f
    case "$coltype" in
      integer | bigint | smallint | numeric*)
        rec=${f%%[!0-9]*}
        [ -n "$rec" ] || { echo "note=$f has no number to record in schema_migrations.$col ($coltype)"; echo "failed=$f"; return 1; }
        ;;
    esac
    echo "run=psql -v ON_ERROR_STOP=1 --single-transaction -f $where/$f"
    if [ -n "$col" ]; then
      out=$(printf '%s\n' "INSERT INTO schema_migrations (:\"col\") VALUES (:'rec');" |
        psql -X -q -v ON_ERROR_STOP=1 -v col="$col" -v rec="$rec" --single-transaction -f "$where/$f" -f - 2>&1)
    else
      out=$(psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$where/$f" 2>&1 </dev/null)
    fi
    st=$?
    [ -z "$out" ] || printf '%s\n' "$out" | tail -n 20
    if [ "$st" -ne 0 ]; then
      echo "failed=$f"
      echo "note=$f failed (psql exit $st): its transaction was rolled back; the files after it were not run"
      return 1
    fi
    echo "applied=$f"
  done <<EOF
$pending
EOF
  return 0
}

export_url() {
  [ -n "$url" ] || return 0
  eval "$urlenv=\$url; export $urlenv"
}

alembic_kind() {
  bin=alembic
  if [ -n "$venv" ] && [ -x "$venv/bin/alembic" ]; then bin="$venv/bin/alembic"; fi
  if ! command -v "$bin" >/dev/null 2>&1; then echo "note=alembic not found (in $venv/bin or on PATH)"; return 2; fi
  export_url
  echo "run=$bin -c $where upgrade head"
  out=$(cd "$wd" && "$bin" -c "$where" upgrade head 2>&1)
  st=$?
  [ -z "$out" ] || printf '%s\n' "$out" | tail -n 20
  return "$st"
}

prisma_kind() {
  export_url
  if [ -x "$wd/node_modules/.bin/prisma" ]; then
    echo "run=$wd/node_modules/.bin/prisma migrate deploy --schema $where"
    out=$(cd "$wd" && "$wd/node_modules/.bin/prisma" migrate deploy --schema "$where" 2>&1)
  elif command -v npx >/dev/null 2>&1; then
    echo "run=npx --no-install prisma migrate deploy --schema $where"
    out=$(cd "$wd" && npx --no-install prisma migrate deploy --schema "$where" 2>&1)
  else
    echo "note=prisma not found (no node_modules/.bin/prisma, no npx)"
    return 2
  fi
  st=$?
  [ -z "$out" ] || printf '%s\n' "$out" | tail -n 20
  return "$st"
}

case "$kind" in
  sql) sql_kind ;;
  alembic) alembic_kind ;;
  prisma) prisma_kind ;;
  *) echo "note=no migrations given (SQL_DIR, ALEMBIC_INI or PRISMA_SCHEMA)"; exit 2 ;;
esac
