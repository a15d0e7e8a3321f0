#!/bin/sh
# memory — how much memory is left and how much swap is in use (/proc/meminfo),
# and the processes holding the most.
# usage: memory
# env: (none)
# prints: mem_total_kb=N mem_available_kb=N mem_available_pct=N
#   swap_total_kb=N swap_used_kb=N swap_used_pct=N   (one fact a line)
#   top pid=N rss_kb=N cmd=NAME                       the three largest processes
set -u
if [ ! -r /proc/meminfo ]; then echo "note=/proc/meminfo is not readable (not Linux?)"; exit 0; fi
awk '
  { v[$1] = $2 }
  END {
    total = v["MemTotal:"] + 0
    # Kernels before 3.14 have no MemAvailable: free + buffers + page cache is the old estimate.
    avail = ("MemAvailable:" in v) ? v["MemAvailable:"] + 0 : v["MemFree:"] + v["Buffers:"] + v["Cached:"]
    st = v["SwapTotal:"] + 0; su = st - v["SwapFree:"]
    print "mem_total_kb=" total
    print "mem_available_kb=" avail
    print "mem_available_pct=" (total > 0 ? int(avail * 100 / total) : 0)
    print "swap_total_kb=" st
    print "swap_used_kb=" su
    print "swap_used_pct=" (st > 0 ? int(su * 100 / st) : 0)
  }' /proc/meminfo
if command -v ps >/dev/null 2>&1; then
  ps -e -o rss=,pid=,comm= 2>/dev/null | sort -rn | head -n 3 | awk '{ print "top pid=" $2 " rss_kb=" $1 " cmd=" $3 }'
fi
exit 0
