#!/bin/sh
# deps-python — does the app's virtualenv hold every package its requirements
# file names, at the pinned version? (Seed 003: a deploy rebuilt the venv from
# a default list and left out wechatpayv3 and python-alipay-sdk.)
# usage: deps-python WORKDIR VENV REQUIREMENTS
#   WORKDIR       the app's folder; VENV and REQUIREMENTS are relative to it unless absolute
#   VENV          the virtualenv, e.g. venv
#   REQUIREMENTS  the requirements file, e.g. requirements-production.txt
# env: (none)
# prints: venv=PATH, requirements=PATH, source=pip freeze|dist-info,
#   installed=N (how many packages the venv holds), required=N,
#   package NAME ok VERSION | package NAME missing (wants SPEC) |
#   package NAME mismatch installed VERSION (wants ==PIN),
#   missing=NAME... mismatch=NAME... (one line each, when any),
#   note=WHY when something could not be read.
# Lines of -r/-c includes are read too (one level); options, URLs and -e lines
# are left out. Names compare the way pip does (case, -, _ and . alike).
set -u
wd=$1
venv=$2
req=$3
case "$venv" in /*) ;; *) venv="$wd/$venv" ;; esac
case "$req" in /*) ;; *) req="$wd/$req" ;; esac
echo "venv=$venv"
echo "requirements=$req"
if [ ! -f "$req" ]; then echo "note=requirements file $req not found"; exit 0; fi
if [ ! -d "$venv" ]; then echo "note=virtualenv $venv not found"; fi

# norm — pip's name normalization (PEP 503) of stdin, one name a line.
norm() {
  tr '[:upper:]' '[:lower:]' | sed 's/[-_.][-_.]*/-/g'
}

# requirement lines: NAME SPEC (SPEC may be empty), one a line.
reqlines() {
  for f in "$@"; do
    [ -r "$f" ] || { echo "note=cannot read $f" >&2; continue; }
    sed -e 's/[[:space:]]#.*$//' -e 's/^#.*$//' -e 's/\r$//' "$f"
  done | awk '
    /^[[:space:]]*$/ { next }
    /^[[:space:]]*-/ { next }
    /:\/\// { next }
    {
      line = $0
      sub(/;.*$/, "", line)
      gsub(/[[:space:]]/, "", line)
      name = line
      sub(/[\[<>=!~(@].*$/, "", name)
      spec = substr(line, length(name) + 1)
      sub(/^\[[^]]*\]/, "", spec)
      if (name != "") print name, spec
    }'
}

includes=$(sed -n 's/^[[:space:]]*-[rc][[:space:]]*\([^[:space:]]*\).*/\1/p; s/^[[:space:]]*--\(requirement\|constraint\)[=[:space:]]*\([^[:space:]]*\).*/\2/p' "$req")
files=$req
dir=${req%/*}
for i in $includes; do
  case "$i" in /*) files="$files
$i" ;; *) files="$files
$dir/$i" ;; esac
done
# shellcheck disable=SC2086 # one file a line; paths with spaces are not split: IFS is a newline
required=$(IFS='
'; reqlines $files)

# installed packages: NAME==VERSION, one a line.
inst=''
src=''
if [ -x "$venv/bin/python" ] && inst=$("$venv/bin/python" -m pip freeze --all --disable-pip-version-check 2>/dev/null) && [ -n "$inst" ]; then
  src='pip freeze'
else
  # No pip that runs: read the dist-info folders pip itself reads.
  src='dist-info'
  inst=$(for m in "$venv"/lib/python*/site-packages/*.dist-info/METADATA "$venv"/lib/python*/site-packages/*.egg-info/PKG-INFO; do
    [ -r "$m" ] || continue
    awk -F': ' '$1 == "Name" && n == "" { n = $2 } $1 == "Version" && v == "" { v = $2 } /^$/ { exit } END { if (n != "") print n "==" v }' "$m"
  done | tr -d '\r')
fi
echo "source=$src"
echo "installed=$(printf '%s\n' "$inst" | grep -c -e '==' -e ' @ ')"
echo "required=$(printf '%s\n' "$required" | grep -c .)"
# name table: NORMALIZED-NAME VERSION, one a line ("name @ url" installs have no version).
table=$(printf '%s\n' "$inst" | awk '
  / @ / { split($0, a, " @ "); print a[1], "(from-url)"; next }
  index($0, "==") { print substr($0, 1, index($0, "==") - 1), substr($0, index($0, "==") + 2) }' |
  awk '{ n = tolower($1); gsub(/[-_.]+/, "-", n); print n, $2 }')

results=$(printf '%s\n' "$required" | while read -r name spec; do
  [ -n "$name" ] || continue
  key=$(printf '%s\n' "$name" | norm)
  have=$(printf '%s\n' "$table" | awk -v k="$key" '$1 == k { print $2; f = 1; exit } END { if (!f) print "-" }')
  if [ "$have" = - ]; then
    echo "package $name missing (wants ${spec:-any version})"
    continue
  fi
  case "$spec" in
    ==*)
      pin=${spec#==}
      pin=${pin%%,*}
      case "$pin" in
        *'*'*) ;;
        *)
          if [ "$pin" != "$have" ]; then
            echo "package $name mismatch installed $have (wants ==$pin)"
            continue
          fi
          ;;
      esac
      ;;
  esac
  echo "package $name ok $have"
done)
[ -z "$results" ] || printf '%s\n' "$results"
miss=$(printf '%s\n' "$results" | awk '$3 == "missing" { printf "%s%s", s, $2; s = " " }')
bad=$(printf '%s\n' "$results" | awk '$3 == "mismatch" { printf "%s%s", s, $2; s = " " }')
[ -z "$miss" ] || echo "missing=$miss"
[ -z "$bad" ] || echo "mismatch=$bad"
exit 0
