#!/bin/sh
# clock — is the system clock kept in sync? Reports what timedatectl or
# chrony say; measuring the real skew needs a reference clock, which this does
# not contact.
# usage: clock
# env: (none)
# prints: time=ISO-8601 (UTC), synced=yes|no|unknown, source=timedatectl|chronyc|none,
#   offset=SECONDS (chrony), note=WHY when no tool answers
set -u
echo "time=$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
if command -v timedatectl >/dev/null 2>&1 && out=$(timedatectl show -p NTPSynchronized 2>/dev/null) && [ -n "$out" ]; then
  case "$out" in *=yes) echo "synced=yes" ;; *=no) echo "synced=no" ;; *) echo "synced=unknown" ;; esac
  echo "source=timedatectl"
  exit 0
fi
if command -v chronyc >/dev/null 2>&1 && out=$(chronyc tracking 2>/dev/null) && [ -n "$out" ]; then
  leap=$(printf '%s\n' "$out" | sed -n 's/^Leap status *: *//p')
  if [ "$leap" = "Not synchronised" ]; then echo "synced=no"; else echo "synced=yes"; fi
  printf '%s\n' "$out" | sed -n 's/^System time *: *\([0-9.]*\) seconds \(fast\|slow\).*/offset=\1 \2/p'
  echo "source=chronyc"
  exit 0
fi
echo "synced=unknown"
echo "source=none"
echo "note=neither timedatectl nor chronyc answered; clock sync state unknown"
exit 0
