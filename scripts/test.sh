#!/usr/bin/env bash
# Runs every test of TickStock Admin: formatting, lints, unit and integration tests against
# real Redis and real PostgreSQL, the fake Polygon server, the desktop app end to end, and
# the release .deb and AppImage (built, each run from a clean root).
# Installs and starts what is missing; uses what already runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_build_deps
ensure_test_deps
ensure_tauri_driver
# The tests' Redis namespaces start with this run's prefix; their keys are deleted at the
# end, and the services this run started are stopped (TICKSTOCK_KEEP_SERVICES=1 keeps them).
export TICKSTOCK_TEST_NS_PREFIX="${TICKSTOCK_TEST_NS_PREFIX:-test-run$(date +%s)p$$}"
trap 'clean_test_keys; stop_started_services' EXIT
ensure_redis
ensure_postgres
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
build_ui

log "page unit tests (node --test)"
npm test --silent
log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
log "building binaries"
cargo build --workspace --bins
log "cargo test"
cargo test --workspace --no-fail-fast "$@"
# The release .deb and AppImage, built and checked from clean roots (TICKSTOCK_PACKAGE_CHECK=0
# skips them).
if [ "${TICKSTOCK_PACKAGE_CHECK:-1}" = "1" ]; then
  log "packages (scripts/package.sh --check)"
  ./scripts/package.sh --check
fi
