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
#   ./scripts/package.sh --check      then checks what it built:
#     the .deb: unpacked, its CLI and its app run from there (the app under Xvfb, driven
#       until its page is interactive), the desktop entry and the unit validated, the
#       Depends checked against the binaries;
#     the AppImage: its content (AppRun, desktop entry, WebKit's helpers, module caches,
#       schemas), then started in a clean Debian root without GTK or WebKitGTK (debootstrap,
#       kept in ~/.cache/tickstock-admin): its CLI run, its app driven under Xvfb until its
#       page is interactive;
#     each app's launch time and idle memory printed side by side.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

want_deb=1 want_appimage=1 check=0
for arg in "$@"; do
  case "$arg" in
    --deb) want_appimage=0 ;;
    --appimage) want_deb=0 ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown option $arg (see --help)" ;;
  esac
done

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
    log "launching the packaged app under Xvfb (e2e measure_app)"
    measure_app deb "$root/usr/bin/tickstock-admin"
    log "packaged app reached an interactive page"
  fi
  log "the .deb passes its checks"
}

# measure_app LABEL BIN: drives BIN under Xvfb through tauri-driver until its page is
# interactive (the e2e harness's measure_app: 1,000 jobs in the history), then samples its
# idle memory; keeps the two figures as MEASURED_LABEL.
declare -A MEASURED=()
measure_app() {
  local label="$1" bin="$2" out="$CHECK_DIR/measure-$1.log" ms pss
  ensure_test_deps
  ensure_tauri_driver
  # TMPDIR=/tmp: the app's folders are made there, where the AppImage's clean root sees them.
  if ! TMPDIR=/tmp E2E_APP_BIN="$bin" cargo test -q -p tickstock-app --test e2e \
       -- --ignored --exact measure_app --nocapture >"$out" 2>&1; then
    tail -40 "$out" >&2; die "the $label app did not reach an interactive page"
  fi
  grep '^MEASURE\|history shows\|^  [A-Za-z].* (pid [0-9]*): ' "$out" | sed 's/^ */    /'
  ms="$(sed -n 's/^MEASURE time_to_interactive_ms=//p' "$out" | tail -1)"
  pss="$(sed -n 's/^MEASURE idle_pss_mib=//p' "$out" | tail -1)"
  if [ -z "$ms" ] || [ -z "$pss" ]; then
    die "the $label app's measurement did not complete (see $out)"
  fi
  MEASURED[$label]="$ms $pss"
}

# The Debian release of this machine and where its packages come from (its apt sources),
# for the AppImage's clean root.
debian_suite() { (. /etc/os-release && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}"); }
debian_mirror() {
  { sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null
  } | grep -v -e security -e '^$' | head -1
}

# appimage_root PACKAGE...: a clean Debian root (debootstrap's minbase) holding those
# packages and what they depend on, made once per package set and kept in the cache.
appimage_root() {
  local suite mirror key dir
  suite="$(debian_suite)"
  key="$(printf '%s\n' "$@" | sort -u | sha256sum | cut -c1-12)"
  dir="$STATE_DIR/appimage-root-$suite-$key"
  if [ ! -f "$dir/.complete" ]; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    mirror="$(debian_mirror)"
    log "making a clean $suite root for the AppImage (debootstrap, once): $*"
    rm -rf "$STATE_DIR"/appimage-root-*
    # shellcheck disable=SC2086
    if ! debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" "$suite" "$dir" $mirror \
         >"$dir.log" 2>&1; then
      tail -20 "$dir.log" >&2; rm -rf "$dir"; die "debootstrap failed (log: $dir.log)"
    fi
    mkdir -p "$dir/opt"
    : >"$dir/opt/tickstock-admin.AppImage"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

check_appimage() {
  local work="$CHECK_DIR/appimage" x f
  log "checking $(basename "$APPIMAGE")"
  mkdir -p "$work"

  # The runtime, then the squashfs at the offset the runtime reports (its own size).
  local offset; offset="$("$APPIMAGE" --appimage-offset)"
  [ "$(tail -c +$((offset + 1)) "$APPIMAGE" | head -c 4)" = hsqs ] \
    || die "no squashfs at the runtime's offset $offset"
  (cd "$work" && "$APPIMAGE" --appimage-extract >/dev/null)
  x="$work/squashfs-root"
  local webkit; webkit="$(cd "$x/usr" && echo lib/*/webkit2gtk-4.1)"
  for f in AppRun tickstock-admin.desktop tickstock-admin.png .DirIcon \
           usr/bin/tickstock-admin usr/bin/tickstock \
           usr/share/applications/tickstock-admin.desktop \
           usr/share/icons/hicolor/512x512/apps/tickstock-admin.png \
           usr/lib/libwebkit2gtk-4.1.so.0 usr/lib/libjavascriptcoregtk-4.1.so.0 usr/lib/libgtk-3.so.0 \
           "usr/$webkit/WebKitWebProcess" "usr/$webkit/WebKitNetworkProcess" \
           "usr/$webkit/injected-bundle/libwebkit2gtkinjectedbundle.so" \
           usr/lib/gio/modules/giomodule.cache usr/lib/gio/modules/libgiognutls.so \
           usr/lib/gdk-pixbuf-2.0/2.10.0/loaders.cache \
           usr/lib/gtk-3.0/3.0.0/immodules.cache \
           usr/share/glib-2.0/schemas/gschemas.compiled; do
    [ -e "$x/$f" ] || die "the AppImage lacks $f"
  done
  [ -x "$x/AppRun" ] || die "AppRun is not executable"
  grep -qaF "././/$webkit" "$x/usr/lib/libwebkit2gtk-4.1.so.0" \
    || die "the bundled libwebkit2gtk does not look for its helpers in the image"
  ! grep -qaF "/usr/$webkit" "$x/usr/lib/libwebkit2gtk-4.1.so.0" \
    || die "the bundled libwebkit2gtk still looks for its helpers in /usr"
  command -v desktop-file-validate >/dev/null 2>&1 || apt_install desktop-file-utils
  desktop-file-validate "$x/tickstock-admin.desktop"
  log "content: AppRun, desktop entry, icon, WebKit helpers (path patched), GIO, pixbuf and GTK module caches, schemas"

  # What the image leaves to the host: every ELF file's libraries, resolved with the image's
  # own first; those found outside it are the host's (the excludelist's) and must be few.
  local elves=() host=() lib_path
  lib_path="$x/usr/lib:$x/usr/lib/gdk-pixbuf-2.0/2.10.0/loaders:$x/usr/lib/gtk-3.0/3.0.0/immodules"
  while IFS= read -r -d '' f; do
    if [ "$(od -An -tx1 -N4 "$f" | tr -d ' \n')" = 7f454c46 ]; then elves+=("$f"); fi
  done < <(find "$x" -type f \( -perm -u+x -o -name '*.so*' \) -print0)
  local resolved
  resolved="$(for f in "${elves[@]}"; do LD_LIBRARY_PATH="$lib_path" ldd "$f" || true; done | sort -u)"
  if echo "$resolved" | grep -q 'not found'; then
    echo "$resolved" | grep 'not found' >&2; die "the AppImage needs libraries it neither has nor leaves to the host"
  fi
  mapfile -t host < <(echo "$resolved" | sed -n 's/.* => \(\/[^ ]*\) (.*/\1/p' | grep -v "^$x/" | sort -u)
  log "the image carries $(find "$x/usr/lib" -maxdepth 1 -name '*.so*' | wc -l) libraries; it takes ${#host[@]} from the host: $(printf '%s\n' "${host[@]##*/}" | tr '\n' ' ')"

  # The clean root: minbase, the packages of those host libraries, the GLES library WebKit
  # opens at run time (libepoxy dlopens it, so ldd does not list it) and one font.
  local pkgs=() p
  for f in "${host[@]}"; do
    p="$({ dpkg -S "$f" "$(readlink -f "$f")" "/usr$f" 2>/dev/null || true; } | head -1 | sed 's/:.*//')"
    [ -n "$p" ] || die "no Debian package holds $f"
    pkgs+=("$p")
  done
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" libgles2 fonts-dejavu-core | sort -u)
  if [ "$(id -u)" -ne 0 ] || [ -z "$(debian_suite)" ]; then
    log "no clean Debian root here (needs root and a Debian host): the AppImage is not started"
    return 0
  fi
  local root
  root="$(appimage_root "${pkgs[@]}")"
  if find "$root/usr/lib" "$root/lib" \( -name 'libwebkit2gtk*' -o -name 'libgtk-3.so*' \
       -o -name 'libjavascriptcoregtk*' \) 2>/dev/null | grep -q .; then
    die "the clean root $root has GTK or WebKitGTK"
  fi
  log "clean root: $root (debootstrap minbase, $(chroot "$root" dpkg-query -f '.\n' -W | wc -l) packages, no GTK, no WebKitGTK)"

  # It starts in the root through this, in a mount namespace of its own (nothing is left
  # mounted): /dev, /proc, /sys, and /tmp for the X socket and the app's folders. The root
  # has no FUSE 2 library, so the image runs through --appimage-extract-and-run.
  local run="$work/run-in-root" unshare mount chroot
  mkdir -p "$work/tmp"
  unshare="$(command -v unshare)" mount="$(command -v mount)" chroot="$(command -v chroot)"
  cat >"$run" <<EOF_RUN
#!/bin/bash
exec $unshare --mount --propagation private -- /bin/bash -c '
  set -e
  root=\$1 image=\$2; shift 2
  $mount --rbind /dev "\$root/dev"
  $mount -t proc proc "\$root/proc"
  $mount --rbind /sys "\$root/sys"
  $mount --bind /tmp "\$root/tmp"
  $mount --bind "\$image" "\$root/opt/tickstock-admin.AppImage"
  # The runtime unpacks the image there, and leaves it when the app is killed.
  export TMPDIR="$work/tmp"
  exec $chroot "\$root" /opt/tickstock-admin.AppImage --appimage-extract-and-run "\$@"
' run-in-root "$root" "$APPIMAGE" "\$@"
EOF_RUN
  chmod +x "$run"

  # The CLI from inside the image (AppRun's `tickstock` argument).
  local v
  v="$(env -i PATH=/usr/bin:/bin HOME=/tmp TMPDIR=/tmp "$run" tickstock --version)" \
    || die "the AppImage's CLI does not run in the clean root"
  echo "    $v"
  [ "$v" = "tickstock $VERSION" ] || die "the AppImage's CLI says '$v', not 'tickstock $VERSION'"
  v="$(env -i PATH=/usr/bin:/bin HOME=/tmp TMPDIR=/tmp "$run" tickstock --help)"
  grep -q 'Usage' <<<"$v" || die "the AppImage's CLI prints no usage"
  log "CLI runs from the AppImage in the clean root (--version, --help)"

  if [ "${TICKSTOCK_PACKAGE_APP_CHECK:-1}" = "1" ]; then
    log "launching the AppImage's app in the clean root under Xvfb (e2e measure_app)"
    measure_app AppImage "$run"
    log "the AppImage's app reached an interactive page in the clean root"
  fi
  log "the AppImage passes its checks"
}

if [ $check -eq 1 ]; then
  # Under /tmp, which the AppImage's clean root shares.
  CHECK_DIR="$(mktemp -d /tmp/tickstock-package.XXXXXX)"
  trap 'rm -rf "$CHECK_DIR" "$DIST"/.stage-*' EXIT
  if [ $want_deb -eq 1 ]; then check_deb; fi
  if [ $want_appimage -eq 1 ]; then check_appimage; fi
  if [ ${#MEASURED[@]} -gt 0 ]; then
    echo
    log "launch to an interactive page and idle memory (PSS, app + WebKit processes), 1,000 jobs"
    for label in deb AppImage; do
      [ -n "${MEASURED[$label]:-}" ] || continue
      read -r ms pss <<<"${MEASURED[$label]}"
      printf '  %-10s %6s ms  %7s MiB%s\n' "$label" "$ms" "$pss" \
        "$([ "$label" = AppImage ] && echo '  (clean root, --appimage-extract-and-run: unpacks the image at each start)')"
    done
  fi
fi
