#!/usr/bin/env bash
# Vendors the page's only third-party assets (Bootstrap, Bootstrap Icons and uPlot for the
# dashboard's charts) into ui/vendor/.
# No bundler: the files are copied as published. The app's CSP forbids CDNs, so the page loads
# these from ui/vendor/ (gitignored). Safe to run repeatedly; does nothing when up to date.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v npm >/dev/null 2>&1; then
  echo "build-ui: npm not found; install Node.js (Debian: apt-get install -y npm)" >&2
  exit 1
fi

# Install when node_modules is missing or older than the lock file (npm records its install
# in node_modules/.package-lock.json).
stamp="node_modules/.package-lock.json"
need_install=0
if [[ ! -d node_modules/bootstrap || ! -d node_modules/bootstrap-icons || ! -d node_modules/uplot || ! -f "$stamp" ]]; then
  need_install=1
elif [[ -f package-lock.json && package-lock.json -nt "$stamp" ]]; then
  need_install=1
elif [[ package.json -nt "$stamp" ]]; then
  need_install=1
fi
if [[ $need_install -eq 1 ]]; then
  if [[ -f package-lock.json ]]; then
    echo "build-ui: npm ci"
    npm ci --no-audit --no-fund
  else
    echo "build-ui: npm install (no package-lock.json yet)"
    npm install --no-audit --no-fund
  fi
  touch "$stamp"
fi

copied=0
# copy SRC DEST: copies only when DEST is missing or differs.
copy() {
  local src="$1" dest="$2"
  if [[ ! -f "$src" ]]; then
    echo "build-ui: missing $src (is the package installed?)" >&2
    exit 1
  fi
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  cp "$src" "$dest"
  copied=$((copied + 1))
}

bs="node_modules/bootstrap/dist"
bi="node_modules/bootstrap-icons/font"
up="node_modules/uplot/dist"
out="ui/vendor"

copy "$bs/css/bootstrap.min.css" "$out/bootstrap/bootstrap.min.css"
copy "$bs/js/bootstrap.bundle.min.js" "$out/bootstrap/bootstrap.bundle.min.js"
copy "$bi/bootstrap-icons.min.css" "$out/bootstrap-icons/bootstrap-icons.min.css"
copy "$up/uPlot.iife.min.js" "$out/uplot/uPlot.iife.min.js"
copy "$up/uPlot.min.css" "$out/uplot/uPlot.min.css"
for font in "$bi"/fonts/bootstrap-icons.woff2 "$bi"/fonts/bootstrap-icons.woff; do
  copy "$font" "$out/bootstrap-icons/fonts/$(basename "$font")"
done

if [[ $copied -gt 0 ]]; then
  echo "build-ui: copied $copied file(s) into $out/"
else
  echo "build-ui: $out/ is up to date"
fi
