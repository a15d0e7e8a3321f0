#!/bin/sh
# deps-node — does node_modules hold every package of the lockfile, at the
# locked version, and every dependency package.json names? What `npm ls`
# reports, without running npm: npm writes a debug log under ~/.npm on every
# problem it finds, and this probe writes nothing on the host.
# usage: deps-node WORKDIR LOCKFILE
#   WORKDIR   the app's folder (holds package.json and node_modules)
#   LOCKFILE  the npm lockfile, relative to WORKDIR unless absolute, e.g. package-lock.json
# env: (none)
# prints: lock=PATH, locked=N (packages the lockfile names),
#   package NAME ok VERSION | package NAME missing (locked VERSION) |
#   package NAME mismatch installed VERSION (locked VERSION)   (problems, and up to 20 ok)
#   dev_missing=N (dev-only packages absent, as after npm ci --omit=dev: not a problem),
#   package NAME missing (package.json wants RANGE)   (named in package.json, absent, not in the lockfile)
#   missing=NAME... mismatch=NAME... (when any), note=WHY.
# Reads files only.
set -u
wd=$1
lock=$2
case "$lock" in /*) ;; *) lock="$wd/$lock" ;; esac
echo "lock=$lock"
if ! command -v node >/dev/null 2>&1; then echo "note=node not found: cannot read $lock"; exit 0; fi
if [ ! -f "$lock" ]; then echo "note=lockfile $lock not found"; fi
if [ ! -d "$wd/node_modules" ]; then echo "note=$wd/node_modules not found: nothing is installed"; fi

# The lockfile is JSON: node reads it (lockfileVersion 2/3 "packages", or 1 "dependencies").
js='
const fs = require("fs"), path = require("path");
const [wd, lockPath] = process.argv.slice(1);
let lock;
try { lock = JSON.parse(fs.readFileSync(lockPath, "utf8")); } catch (e) { if (e.code !== "ENOENT") console.log("note=cannot read the lockfile: " + e.message.split("\n")[0]); process.exit(0); }
const want = [];
if (lock.packages) {
  for (const [p, e] of Object.entries(lock.packages)) {
    if (!p.startsWith("node_modules/") && !p.includes("/node_modules/")) continue;
    if (e.link) continue;
    want.push({ p, name: e.name || p.slice(p.lastIndexOf("node_modules/") + 13), v: e.version, dev: !!e.dev, opt: !!e.optional });
  }
} else {
  const walk = (deps, base) => { for (const [n, e] of Object.entries(deps || {})) { const p = base + "node_modules/" + n; want.push({ p, name: n, v: e.version, dev: !!e.dev, opt: !!e.optional }); walk(e.dependencies, p + "/"); } };
  walk(lock.dependencies, "");
}
console.log("locked=" + want.length);
let ok = 0, devMissing = 0;
const miss = [], bad = [];
for (const w of want) {
  let have;
  try { have = JSON.parse(fs.readFileSync(path.join(wd, w.p, "package.json"), "utf8")).version; } catch { have = undefined; }
  if (have === undefined) {
    if (w.dev) { devMissing++; continue; }
    if (w.opt) continue;
    console.log("package " + w.name + " missing (locked " + w.v + ")"); miss.push(w.name);
  } else if (w.v && !/^(file|link|git|http)/.test(w.v) && have !== w.v) {
    console.log("package " + w.name + " mismatch installed " + have + " (locked " + w.v + ")"); bad.push(w.name);
  } else if (ok++ < 20) console.log("package " + w.name + " ok " + have);
}
let pkg = {};
try { pkg = JSON.parse(fs.readFileSync(path.join(wd, "package.json"), "utf8")); } catch {}
for (const [n, r] of Object.entries(pkg.dependencies || {})) {
  if (want.some((w) => w.p === "node_modules/" + n)) continue;
  if (fs.existsSync(path.join(wd, "node_modules", n, "package.json"))) continue;
  console.log("package " + n + " missing (package.json wants " + r + ")"); miss.push(n);
}
if (devMissing) console.log("dev_missing=" + devMissing);
const uniq = (l) => [...new Set(l)].join(" ");
if (miss.length) console.log("missing=" + uniq(miss));
if (bad.length) console.log("mismatch=" + uniq(bad));
'
node -e "$js" "$wd" "$lock"

exit 0
