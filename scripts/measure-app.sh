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
# With --soak: memory over a working session instead (the ignored test `measure_soak`):
# 10,000 jobs in the history, then SOAK_MINUTES (60) of loads through the form, details,
# history searches and pages and every tab, PSS sampled each minute.
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
if [ "${1:-}" = "--soak" ]; then
  log "soak for ${SOAK_MINUTES:-60} minutes (release: ${MEASURE_RELEASE:-0})"
  cargo test -p tickstock-app "${profile[@]}" --test e2e -- --ignored --exact measure_soak --nocapture 2>&1 | tee "$out"
  end="$(sed -n 's/^MEASURE soak_end_pss_mib=//p' "$out" | tail -1)"
  [ -n "$end" ] || die "the soak did not complete (see the output above)"
  echo
  echo "Memory at the start (PSS):       $(sed -n 's/^MEASURE soak_start_pss_mib=//p' "$out") MiB"
  echo "After 5 minutes:                 $(sed -n 's/^MEASURE soak_minute5_pss_mib=//p' "$out") MiB"
  echo "At the end ($(sed -n 's/^MEASURE soak_minutes=//p' "$out") min, $(sed -n 's/^MEASURE soak_rounds=//p' "$out") rounds): ${end} MiB"
  exit 0
fi
log "building and launching the app (release: ${MEASURE_RELEASE:-0})"
cargo test -p tickstock-app "${profile[@]}" --test e2e -- --ignored --exact measure_app --nocapture 2>&1 | tee "$out"

ms="$(sed -n 's/^MEASURE time_to_interactive_ms=//p' "$out" | tail -1)"
pss="$(sed -n 's/^MEASURE idle_pss_mib=//p' "$out" | tail -1)"
[ -n "$ms" ] && [ -n "$pss" ] || die "the measurement did not complete (see the output above)"
echo
echo "Time to interactive:             ${ms} ms"
echo "Idle memory, 1,000 jobs (PSS):   ${pss} MiB (app + WebKit processes)"
