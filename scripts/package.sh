#!/usr/bin/env bash
# Builds the release packages of TickStock Admin into dist/, offline (crates.io and Debian
# packages only):
#   dist/tickstock-admin_VERSION_amd64.deb       the app, the `tickstock` CLI, the desktop entry,
#                                                icons and the tickstock-worker systemd unit
#                                                (Tauri's bundler, the tauri-bundler crate)
#   dist/tickstock-admin_VERSION_amd64.AppImage  the app and the CLI with WebKitGTK, GTK and
#                                                the libraries they link (xtask's own
#                                                assembler: the AppImage runtime from the
#                                                `appimage` crate, mksquashfs)
# by xtask/ (see xtask/src/main.rs for why not the tauri CLI), from tauri.conf.json.
#
#   ./scripts/package.sh              both packages
#   ./scripts/package.sh --deb        the .deb only
#   ./scripts/package.sh --appimage   the AppImage only
#   ./scripts/package.sh --check      then checks the .deb: unpacked into a clean root, its
#                                     CLI and its app run from there (the app under Xvfb,
#                                     driven until its page is interactive), the desktop entry
#                                     and the unit validated, the Depends checked against the
#                                     binaries
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

want_deb=1 want_appimage=1 check=0
for arg in "$@"; do
  case "$arg" in
    --deb) want_appimage=0 ;;
    --appimage) want_deb=0 ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown option $arg (see --help)" ;;
  esac
done
[ $check -eq 1 ] && want_deb=1

# Where cargo puts the release binaries, and the bundler (xtask/ is a workspace of its
# own: without CARGO_TARGET_DIR its binary is under xtask/target).
TARGET="$(cargo_target_dir)"
DIST="$ROOT/dist"
VERSION="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' tauri.conf.json | head -1)"
[ -n "$VERSION" ] || die "no version in tauri.conf.json"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
DEB="$DIST/tickstock-admin_${VERSION}_${ARCH}.deb"
APPIMAGE="$DIST/tickstock-admin_${VERSION}_${ARCH}.AppImage"

ensure_build_deps
build_ui

log "building the release binaries (tickstock-admin, tickstock)"
# custom-protocol: the page is served from the binary, as `tauri build` does.
cargo build --release --locked -p tickstock-app -p tickstock-cli --features tickstock-app/custom-protocol
log "building the bundler (xtask)"
cargo build --locked --manifest-path xtask/Cargo.toml
XTASK="$(cargo_target_dir --manifest-path xtask/Cargo.toml)/debug/xtask"
[ -x "$XTASK" ] || die "the bundler was built but is not at $XTASK"
mkdir -p "$DIST"

bundle() {
  "$XTASK" bundle --root "$ROOT" --bin-dir "$TARGET/release" --out "$DIST" "$@"
}

if [ $want_deb -eq 1 ]; then
  log "bundling the .deb"
  rm -f "$DEB"
  bundle --format deb >/dev/null
  [ -f "$DEB" ] || die "the bundler wrote no $DEB"
fi

trap 'rm -rf "$DIST"/.stage-*' EXIT
if [ $want_appimage -eq 1 ]; then
  command -v mksquashfs >/dev/null 2>&1 || apt_install squashfs-tools
  log "bundling the AppImage (WebKitGTK and GTK bundled; runtime from the appimage crate)"
  rm -f "$APPIMAGE"
  bundle --format appimage >/dev/null
  [ -f "$APPIMAGE" ] || die "the bundler wrote no $APPIMAGE"
fi

echo
log "packages"
for f in "$DEB" "$APPIMAGE"; do
  [ -f "$f" ] && printf '  %-60s %s\n' "${f#"$ROOT"/}" "$(du -h "$f" | cut -f1)"
done

# --- checks ------------------------------------------------------------------------------

check_deb() {
  local work root ctl
  work="$CHECK_DIR"
  root="$work/root" ctl="$work/control"
  log "checking $(basename "$DEB")"

  # Control fields.
  local fields; fields="$(dpkg-deb --field "$DEB" Package Version Architecture Depends)"
  echo "$fields" | sed 's/^/    /'
  echo "$fields" | grep -q '^Package: tickstock-admin$' || die "Package is not tickstock-admin"
  echo "$fields" | grep -q "^Version: $VERSION$" || die "Version is not $VERSION"
  echo "$fields" | grep -q '^Depends:.*libwebkit2gtk-4.1-0' || die "Depends lacks WebKitGTK"
  echo "$fields" | grep -q '^Depends:.*libgtk-3-0' || die "Depends lacks GTK"

  # The files, in a clean root.
  dpkg-deb -x "$DEB" "$root"
  dpkg-deb -e "$DEB" "$ctl"
  local f
  for f in usr/bin/tickstock-admin usr/bin/tickstock \
           usr/share/applications/tickstock-admin.desktop \
           usr/share/icons/hicolor/32x32/apps/tickstock-admin.png \
           usr/share/icons/hicolor/128x128/apps/tickstock-admin.png \
           usr/share/icons/hicolor/512x512/apps/tickstock-admin.png \
           usr/lib/systemd/system/tickstock-worker.service \
           usr/share/tickstock-admin/worker.env.example; do
    [ -e "$root/$f" ] || die "the package lacks /$f"
  done
  for f in postinst prerm postrm; do
    [ -x "$ctl/$f" ] || die "the package lacks its $f script"
    sh -n "$ctl/$f" || die "$f is not valid sh"
  done
  log "files: binaries, desktop entry, icons, unit, maintainer scripts present"

  # Depends: every library the binaries link comes from a package in Depends' closure.
  if command -v dpkg-shlibdeps >/dev/null 2>&1 && command -v apt-cache >/dev/null 2>&1; then
    mkdir -p "$work/shlibs/debian"
    printf 'Source: tickstock-admin\n\nPackage: tickstock-admin\nArchitecture: any\n' \
      > "$work/shlibs/debian/control"
    local needed closure missing=()
    needed="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e "$root/usr/bin/tickstock-admin" \
      -e "$root/usr/bin/tickstock" 2>/dev/null | sed 's/^shlibs:Depends=//' \
      | tr ',' '\n' | sed 's/^ *//; s/ .*//; s/:.*//' | sort -u)"
    local depends; depends="$(echo "$fields" | sed -n 's/^Depends: //p' | tr ',' '\n' | sed 's/^ *//; s/ .*//')"
    # shellcheck disable=SC2086
    closure="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances $depends 2>/dev/null \
      | sed -n 's/^\([^ <][^ ]*\)$/\1/p; s/^ *[A-Za-z]*Depends: \([^<][^ ]*\)$/\1/p' | sed 's/:.*//' | sort -u)"
    local essential="libc6 libgcc-s1"
    for f in $needed; do
      case " $essential " in *" $f "*) continue ;; esac
      echo "$closure" | grep -qx "$f" || missing+=("$f")
    done
    [ ${#missing[@]} -eq 0 ] || die "linked libraries not covered by Depends: ${missing[*]}"
    log "Depends covers every linked library ($(echo $needed | wc -w) packages)"
  fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -s -qq "$DEB" >/dev/null || die "apt cannot satisfy the package's Depends here"
    log "apt resolves the package's Depends"
  fi

  # The desktop entry.
  command -v desktop-file-validate >/dev/null 2>&1 || apt_install desktop-file-utils
  desktop-file-validate "$root/usr/share/applications/tickstock-admin.desktop"
  log "desktop entry valid (desktop-file-validate)"

  # The unit, where systemd-analyze works (not in every container).
  if command -v systemd-analyze >/dev/null 2>&1; then
    local unit="$work/unit/tickstock-worker.service" out
    mkdir -p "$work/unit"
    # Verified with the unpacked binary in place of /usr/bin/tickstock, and the service's
    # user and environment file (made by postinst) replaced by ones that exist here.
    sed -e "s|/usr/bin/tickstock|$root/usr/bin/tickstock|" \
        -e "s|^User=.*|User=daemon|; s|^Group=.*|Group=daemon|" \
        -e "s|^EnvironmentFile=.*|EnvironmentFile=$root/usr/share/tickstock-admin/worker.env.example|" \
        "$root/usr/lib/systemd/system/tickstock-worker.service" > "$unit"
    local rc=0
    out="$(systemd-analyze verify "$unit" 2>&1)" || rc=$?
    if echo "$out" | grep -qE 'tickstock-worker\.service:[0-9]+:|not executable|Unknown (key|section)|Failed to parse|Invalid'; then
      echo "$out" >&2; die "systemd-analyze verify rejects tickstock-worker.service"
    elif [ $rc -ne 0 ]; then
      log "systemd-analyze verify cannot run here (skipped): $(echo "$out" | tail -1)"
    else
      log "unit valid (systemd-analyze verify)"
    fi
  fi

  # The CLI, from the installed path.
  local home="$work/home"
  mkdir -p "$home"
  local cli=(env -i PATH=/usr/bin:/bin HOME="$home" "$root/usr/bin/tickstock")
  "${cli[@]}" --version
  # Read whole (grep -q would close the pipe early and the CLI would die of EPIPE).
  local universes; universes="$("${cli[@]}" universe list --json)"
  grep -q '"key"' <<<"$universes" || die "tickstock universe list printed no universe"
  log "CLI runs from the package (version, universe list on its default SQLite)"

  # The worker stops cleanly on SIGTERM (systemd's and docker's stop).
  if [ -n "${TEST_REDIS_URL:-}" ] && redis-cli -u "$TEST_REDIS_URL" ping >/dev/null 2>&1; then
    local ns="${TICKSTOCK_TEST_NS_PREFIX:-test}-pkg$$" pid rc started
    : >"$work/worker.log"
    "${cli[@]}" worker --redis-url "$TEST_REDIS_URL" --namespace "$ns" \
      --database-url "sqlite://$work/worker.sqlite" --api-key unused >"$work/worker.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "ready" "$work/worker.log" && break; sleep 0.1; done
    grep -q "ready" "$work/worker.log" || { cat "$work/worker.log" >&2; die "the worker did not start"; }
    started=$(date +%s%N)
    kill -TERM "$pid"
    rc=0; wait "$pid" || rc=$?
    [ $rc -eq 0 ] || { cat "$work/worker.log" >&2; die "the worker exited $rc on SIGTERM"; }
    log "worker stops on SIGTERM with exit 0 in $(( ($(date +%s%N) - started) / 1000000 )) ms"
    redis-cli -u "$TEST_REDIS_URL" --scan --pattern "$ns:*" | xargs -r redis-cli -u "$TEST_REDIS_URL" unlink >/dev/null
  fi

  # The app, from the installed path, under Xvfb through WebKit's WebDriver: the e2e
  # harness's measurement (1,000 jobs in history) until the page is interactive.
  if [ "${TICKSTOCK_PACKAGE_APP_CHECK:-1}" = "1" ]; then
    ensure_test_deps
    ensure_tauri_driver
    log "launching the packaged app under Xvfb (e2e measure_app)"
    local out="$work/measure.log"
    if ! E2E_APP_BIN="$root/usr/bin/tickstock-admin" cargo test -q -p tickstock-app --test e2e \
         -- --ignored --exact measure_app --nocapture >"$out" 2>&1; then
      tail -40 "$out" >&2; die "the packaged app did not reach an interactive page"
    fi
    grep '^MEASURE\|history shows' "$out" | sed 's/^/    /'
    log "packaged app reached an interactive page"
  fi
  log "the .deb passes its checks"
}

if [ $check -eq 1 ]; then
  CHECK_DIR="$(mktemp -d)"
  trap 'rm -rf "$CHECK_DIR" "$DIST"/.stage-*' EXIT
  check_deb
fi
