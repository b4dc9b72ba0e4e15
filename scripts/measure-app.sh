#!/usr/bin/env bash
# Measures the desktop app as a user would feel it:
#   (a) time from launch to an interactive page (body[data-ready="1"]), launched through
#       tauri-driver under a private Xvfb display;
#   (b) memory when idle with 1,000 jobs in the history: proportional set size (PSS, from
#       /proc/PID/smaps_rollup) summed over the app and its WebKit processes
#       (WebKitWebProcess, WebKitNetworkProcess).
# The jobs are written into the app's SQLite database before it starts. The work is done by
# the ignored test `measure_app` in src-tauri/tests/e2e.rs; this script prepares the machine,
# runs it, and prints the two figures.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_build_deps
ensure_test_deps
ensure_tauri_driver
build_ui

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
profile=()
[ "${MEASURE_RELEASE:-0}" = "1" ] && profile=(--release)
# MEASURE_APP_BIN: measure that app binary (e.g. a package's /usr/bin/tickstock-admin,
# unpacked by `scripts/package.sh --check`) with the debug test harness.
if [ -n "${MEASURE_APP_BIN:-}" ]; then
  export E2E_APP_BIN="$MEASURE_APP_BIN"
  log "measuring $MEASURE_APP_BIN"
fi
log "building and launching the app (release: ${MEASURE_RELEASE:-0})"
cargo test -p tickstock-app "${profile[@]}" --test e2e -- --ignored --exact measure_app --nocapture 2>&1 | tee "$out"

ms="$(sed -n 's/^MEASURE time_to_interactive_ms=//p' "$out" | tail -1)"
pss="$(sed -n 's/^MEASURE idle_pss_mib=//p' "$out" | tail -1)"
[ -n "$ms" ] && [ -n "$pss" ] || die "the measurement did not complete (see the output above)"
echo
echo "Time to interactive:             ${ms} ms"
echo "Idle memory, 1,000 jobs (PSS):   ${pss} MiB (app + WebKit processes)"
