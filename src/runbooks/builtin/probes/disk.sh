#!/bin/sh
# disk — how full each filesystem is, in space and in inodes (df -P, df -Pi).
# usage: disk SPACE_PCT INODE_PCT [MOUNT...]
#   SPACE_PCT  a filesystem at least this full (percent used) is reported full
#   INODE_PCT  likewise for inodes
#   MOUNT      check only these mount points; empty ones are ignored (default every real filesystem:
#              loop devices such as snaps, which are always 100%, are left out)
# env: (none)
# prints: mount=PATH used=PCT inodes=PCT|- avail_kb=N size_kb=N   one line each,
#   full=PATH space|inodes PCT% (N KB free of N KB)                  each one over a limit,
#   max_used=PCT max_inodes=PCT, or note=WHY.
set -u
space=$1
inode=$2
shift 2
case "$space$inode" in *[!0-9]*) echo "note=limits must be whole percentages"; exit 2 ;; esac
# Empty MOUNT arguments (an unset option) mean "not given".
for m in "$@"; do
  shift
  if [ -n "$m" ]; then set -- "$@" "$m"; fi
done
if ! command -v df >/dev/null 2>&1; then echo "note=df is not installed"; exit 0; fi
# df -Pi, a separator, then df -P: awk joins the two by mount point.
{ df -Pi -- "$@" 2>/dev/null; echo '--space--'; df -P -- "$@" 2>&1; } | awk -v space="$space" -v inode="$inode" '
  function mountpoint(   m, i) { m = $6; for (i = 7; i <= NF; i++) m = m " " $i; return m }
  $0 == "--space--" { part = 2; next }
  /^Filesystem/ { next }
  /^df: / { print "note=" $0; next }
  part != 2 { if (NF >= 6) ip[mountpoint()] = $5; next }
  NF < 6 { next }
  {
    mnt = mountpoint(); dev = $1; size = $2; avail = $4; pct = $5; sub(/%$/, "", pct)
    if (size == 0 || dev ~ /^\/dev\/loop/ || mnt ~ /^\/snap\//) next
    i = (mnt in ip) ? ip[mnt] : "-"; sub(/%$/, "", i)
    print "mount=" mnt " used=" pct " inodes=" i " avail_kb=" avail " size_kb=" size
    if (pct + 0 > maxu) maxu = pct + 0
    if (i != "-" && i + 0 > maxi) maxi = i + 0
    if (pct + 0 >= space) print "full=" mnt " space " pct "% (" avail " KB free of " size " KB)"
    if (i != "-" && i + 0 >= inode) print "full=" mnt " inodes " i "%"
  }
  END { print "max_used=" maxu + 0; print "max_inodes=" maxi + 0 }'
exit 0
