#!/bin/sh
# load — the load average against the number of cores (/proc/loadavg, nproc),
# and the processes using the most CPU.
# usage: load
# env: (none)
# prints: load1=F load5=F load15=F cores=N load1_pct=N load5_pct=N runnable=N/N
#   (one fact a line; load1_pct is the 1-minute load as a percentage of the cores),
#   top pid=N cpu=PCT cmd=NAME   the three busiest processes
set -u
if [ ! -r /proc/loadavg ]; then echo "note=/proc/loadavg is not readable (not Linux?)"; exit 0; fi
cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c '^processor' /proc/cpuinfo)
case "$cores" in '' | *[!0-9]* | 0) cores=1 ;; esac
awk -v cores="$cores" '{
  print "load1=" $1; print "load5=" $2; print "load15=" $3; print "cores=" cores
  print "load1_pct=" int($1 * 100 / cores); print "load5_pct=" int($2 * 100 / cores)
  print "runnable=" $4
}' /proc/loadavg
if command -v ps >/dev/null 2>&1; then
  ps -e -o pcpu=,pid=,comm= 2>/dev/null | sort -rn | head -n 3 | awk '{ print "top pid=" $2 " cpu=" $1 " cmd=" $3 }'
fi
exit 0
