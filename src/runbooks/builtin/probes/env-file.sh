#!/bin/sh
# env-file — does the app's env file set the variables it needs, and does the
# running process have them? Prints lengths only, never a value.
# usage: env-file FILE [NAME...]
#   FILE  the env file, e.g. /srv/app/.env
#   NAME  a required variable
# env: PIDS
# sudo: /usr/bin/cat $1
#   PIDS  the app's processes (the first whose /proc/PID/environ is readable is read)
# prints: env_file=present|missing, env_path=FILE, env_example=FILE (a template
#   beside a missing FILE: FILE.example, .env.example, config.example, ...),
#   var NAME file=set(N chars)|empty|missing|no-file process=set(N chars)|empty|missing|unknown
#   verdict=required variables are set | verdict=not set: NAME...
#   A FILE this user cannot read (an app's 0600 .env) is read through sudo
#   when allowed, else: file=unreadable and note=needs sudo for cat FILE.
set -u
# as_root CMD... — CMD as root when allowed: directly as root, else through
# `sudo -n` when sudoers allows exactly this command (never a password
# prompt), else as this user.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; return; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n -l "$@" >/dev/null 2>&1; then sudo -n "$@"; return; fi
  "$@"
}
f=$1
shift
if [ -f "$f" ]; then echo "env_file=present"; else echo "env_file=missing"; fi
echo "env_path=$f"
if [ ! -f "$f" ]; then
  # A template to create it from, next to where it should be (seed 004: cp config.example .env).
  for x in "$f.example" "$f.sample" "$f.template" "${f%/*}/.env.example" "${f%/*}/.env.sample" "${f%/*}/config.example" "${f%/*}/env.example"; do
    if [ -f "$x" ]; then echo "env_example=$x"; break; fi
  done
fi
if [ ! -f "$f" ]; then
  # A template to create it from, next to where it should be (seed 004: cp config.example .env).
  for x in "$f.example" "$f.sample" "$f.template" "${f%/*}/.env.example" "${f%/*}/.env.sample" "${f%/*}/config.example" "${f%/*}/env.example"; do
    if [ -f "$x" ]; then echo "env_example=$x"; break; fi
  done
fi
text=''
unreadable=''
if [ -f "$f" ]; then
  if [ -r "$f" ]; then text=$(cat "$f"); elif ! text=$(as_root cat "$f" 2>/dev/null); then unreadable=yes; text=''; fi
fi
if [ -n "$unreadable" ]; then echo "note=needs sudo for cat $f (see triage sudoers)"; fi
proc=''
for p in $PIDS; do
  if [ -r "/proc/$p/environ" ]; then proc=$p; break; fi
done
miss=''
for k in "$@"; do
  case "$k" in '' | [!A-Za-z_]* | *[!A-Za-z0-9_]*) echo "note=skipped $k: not a variable name"; continue ;; esac
  re="^[[:space:]]*(export[[:space:]]+)?${k}[[:space:]]*="
  if [ ! -f "$f" ]; then
    fs=no-file
  elif [ -n "$unreadable" ]; then
    fs=unreadable
  elif printf '%s\n' "$text" | grep -qE "$re"; then
    v=$(printf '%s\n' "$text" | grep -E "$re" | tail -n 1 | sed -e 's/^[^=]*=[[:space:]]*//' -e "s/^[\"']//" -e "s/[\"'][[:space:]]*\$//" | tr -d '\r\n' | wc -c)
    if [ "$v" -gt 0 ]; then fs="set($v chars)"; else fs=empty; fi
  else
    fs=missing
  fi
  ps_=unknown
  if [ -n "$proc" ]; then
    if tr '\0' '\n' <"/proc/$proc/environ" | grep -qE "^$k="; then
      pv=$(tr '\0' '\n' <"/proc/$proc/environ" | grep -E "^$k=" | head -n 1 | cut -d= -f2- | tr -d '\n' | wc -c)
      if [ "$pv" -gt 0 ]; then ps_="set($pv chars)"; else ps_=empty; fi
    else
      ps_=missing
    fi
  fi
  echo "var $k file=$fs process=$ps_"
  case "$fs" in set* | unreadable) ;; *) miss="$miss $k" ;; esac
done
if [ -n "$unreadable" ]; then
  echo "verdict=unknown: needs sudo for cat $f (see triage sudoers)"
elif [ -n "$miss" ]; then echo "verdict=not set:$miss"; else echo "verdict=required variables are set"; fi
