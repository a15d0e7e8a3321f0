#!/bin/sh
# break-app — puts the demo target in one known state, so `triage run 502 demo`
# has something real to find. Run inside the container, as root:
#   docker compose exec demo-target break-app MODE
# MODE        what the app does                                  what Triage should say
#   healthy   runs on :8000 behind nginx                         healthy
#   crash     dies on start: No module named 'demo_payments'     dependency-missing
#   down      is not running                                     service-down
#   port      runs on :8001, nginx still proxies to :8000        port-mismatch
#   env       dies on start: .env has no JWT_SECRET              missing-env
#   nginx     runs, but the nginx site has a syntax error        nginx-config-invalid
set -eu
mode=${1:-}
APP=/srv/demo
LOG=/var/log/demo/api.log
PIDFILE=/run/demo-api.pid
SITE=/etc/nginx/sites-enabled/demo
secret=$(cat /etc/demo-jwt-secret 2>/dev/null || true)
if [ -z "$secret" ]; then
  secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  umask 077
  printf '%s\n' "$secret" >/etc/demo-jwt-secret
  umask 022
fi

stop_app() {
  if [ -s "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    rm -f "$PIDFILE"
  fi
}

# start_app PORT — the app as user app, its output appended to the log.
start_app() {
  setsid setpriv --reuid=app --regid=app --init-groups \
    env PORT="$1" PYTHONPATH="$APP/lib" sh -c 'set -a; . /srv/demo/.env; set +a; exec python3 /srv/demo/api.py' \
    >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
}

write_env() {
  printf 'DATABASE_URL=postgres://demo@127.0.0.1:5432/demo\n' >"$APP/.env"
  if [ "${1:-}" != no-secret ]; then printf 'JWT_SECRET=%s\n' "$secret" >>"$APP/.env"; fi
  chown app:app "$APP/.env"
  chmod 0600 "$APP/.env"
}

good_site() { cp /etc/nginx/demo.site "$SITE"; }
install_deps() { mkdir -p "$APP/lib" && printf 'PROVIDER = "demo"\n' >"$APP/lib/demo_payments.py"; }
remove_deps() { rm -f "$APP/lib/demo_payments.py"; }

reload_nginx() {
  if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then nginx -s reload; else nginx; fi
}

case "$mode" in
  healthy) stop_app; install_deps; write_env; good_site; reload_nginx; start_app 8000 ;;
  crash) stop_app; remove_deps; write_env; good_site; reload_nginx; start_app 8000 ;;
  down) stop_app; install_deps; write_env; good_site; reload_nginx ;;
  port) stop_app; install_deps; write_env; good_site; reload_nginx; start_app 8001 ;;
  env) stop_app; install_deps; write_env no-secret; good_site; reload_nginx; start_app 8000 ;;
  nginx)
    stop_app; install_deps; write_env; good_site; reload_nginx; start_app 8000
    # A missing semicolon, written after nginx loaded the good config: it keeps serving, `nginx -t` fails.
    sed -i 's#proxy_pass http://127.0.0.1:8000;#proxy_pass http://127.0.0.1:8000#' "$SITE"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
echo "demo-target: $mode"
