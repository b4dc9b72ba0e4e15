#!/usr/bin/env bash
# Builds TickStock Admin and starts it on its embedded defaults (built-in worker, SQLite in
# the app's data directory, no Redis needed). Installs what the build needs when missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_build_deps
build_ui
log "building the app"
cargo build -p tickstock-app
log "starting TickStock Admin"
exec "${CARGO_TARGET_DIR:-$ROOT/target}/debug/tickstock-admin" "$@"
