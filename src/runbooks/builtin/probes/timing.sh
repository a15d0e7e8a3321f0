#!/bin/sh
# timing — can this host reach a third-party service, and which phase fails or
# is slow? One GET per URL, timed like `curl -w` (seed 002): DNS lookup, TCP
# connect, TLS handshake, first byte. On a TLS failure the server's
# certificate dates are read with openssl (trusted or not).
# usage: timing MAX_SECONDS [URL...]
#   MAX_SECONDS  give up on a URL after this long (whole seconds, at least 1; connecting gets at most 5)
#   URL          http:// or https:// address
# env: CA_FILE
#   CA_FILE  a CA bundle to trust besides the system's (an internal CA); may be empty
# prints, one line per URL:
#   upstream=URL phase=ok|dns|connect|tls|response|http-error code=N dns=S connect=S tls=S ttfb=S total=S [error=CURL'S WORDS]
#   cert=URL not_after=DATE expired=yes|no     (after a TLS failure, when openssl can read it)
#   then checked=N failed=N
set -u
max=${1%%.*}
shift
case "$max" in *[!0-9]*) echo "note=MAX_SECONDS must be a number of seconds"; exit 2 ;; esac
[ -n "$max" ] && [ "$max" -gt 0 ] || max=1
ct=5
[ "$max" -lt "$ct" ] && ct=$max
if ! command -v curl >/dev/null 2>&1; then echo "note=curl is not installed: cannot time upstreams"; exit 0; fi
if command -v timeout >/dev/null 2>&1; then t='timeout 5'; else t=''; fi
n=0
bad=0
for url in "$@"; do
  [ -n "$url" ] || continue
  n=$((n + 1))
  if [ -n "$CA_FILE" ]; then
    r=$(curl -sS -o /dev/null --connect-timeout "$ct" --max-time "$max" --cacert "$CA_FILE" -w 'code=%{http_code} dns=%{time_namelookup} connect=%{time_connect} tls=%{time_appconnect} ttfb=%{time_starttransfer} total=%{time_total}' -- "$url" 2>&1)
  else
    r=$(curl -sS -o /dev/null --connect-timeout "$ct" --max-time "$max" -w 'code=%{http_code} dns=%{time_namelookup} connect=%{time_connect} tls=%{time_appconnect} ttfb=%{time_starttransfer} total=%{time_total}' -- "$url" 2>&1)
  fi
  rc=$?
  # curl's -w line and its error line may share a line: take each by its shape.
  times=$(printf '%s\n' "$r" | grep -o 'code=[0-9]* dns=[0-9.]* connect=[0-9.]* tls=[0-9.]* ttfb=[0-9.]* total=[0-9.]*' | tail -n 1)
  err=$(printf '%s\n' "$r" | grep -o 'curl: ([0-9]*).*' | head -n 1)
  code=$(printf '%s\n' "$times" | sed -n 's/^code=\([0-9]*\).*/\1/p')
  case "$rc" in
    0) if [ "${code:-0}" -ge 500 ]; then phase=http-error; else phase=ok; fi ;;
    5 | 6) phase=dns ;;
    7) phase=connect ;;
    28)
      # Timed out: the first phase that never finished is the one that hung.
      phase=$(printf '%s\n' "$times" | awk -v https="$(case "$url" in https:*) echo 1 ;; *) echo 0 ;; esac)" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
        if (v["dns"] == 0) print "dns"; else if (v["connect"] == 0) print "connect"
        else if (https && v["tls"] == 0) print "tls"; else print "response"
      }')
      [ -n "$phase" ] || phase=response
      ;;
    35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91) phase=tls ;;
    18 | 52 | 55 | 56) phase=response ;;
    *) phase=error ;;
  esac
  [ "$phase" = ok ] || bad=$((bad + 1))
  line="upstream=$url phase=$phase ${times:-code=000}"
  if [ -n "$err" ]; then line="$line error=$err"; fi
  echo "$line"
  if [ "$phase" = tls ] && command -v openssl >/dev/null 2>&1; then
    hp=${url#*://}
    hp=${hp%%/*}
    hp=${hp##*@}
    host=${hp%:*}
    [ "$host" = "$hp" ] && hp="$hp:443"
    pem=$(echo | $t openssl s_client -connect "$hp" -servername "$host" 2>/dev/null | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p')
    if [ -n "$pem" ]; then
      end=$(printf '%s\n' "$pem" | openssl x509 -noout -enddate 2>/dev/null | sed 's/^notAfter=//')
      if printf '%s\n' "$pem" | openssl x509 -noout -checkend 0 >/dev/null 2>&1; then exp=no; else exp=yes; fi
      echo "cert=$url not_after=$end expired=$exp"
    fi
  fi
done
echo "checked=$n"
echo "failed=$bad"
exit 0
