#!/usr/bin/env bash
# Builds TickStock Admin and starts it on its embedded defaults (built-in worker, SQLite in
# the app's data directory, no Redis needed). Installs what the build needs when missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Over SSH or on a server there is no window to open: say so before building.
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  die "TickStock Admin needs a graphical display and none is available (neither DISPLAY nor WAYLAND_DISPLAY is set): start it from a desktop session (or set DISPLAY to a running X server), or use the \`tickstock\` command line on a server."
fi
ensure_build_deps
build_ui
log "building the app"
cargo build -p tickstock-app
log "starting TickStock Admin"
exec "$(cargo_target_dir)/debug/tickstock-admin" "$@"
