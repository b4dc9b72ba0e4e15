# Shared by run.sh and test.sh: install what is missing, start what is not running.
# Uses what is already there; installs with apt-get on Debian/Ubuntu (as root or via sudo).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/tickstock-admin"
mkdir -p "$STATE_DIR"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Where cargo puts what it builds for a manifest (the workspace's by default; pass
# --manifest-path for another): CARGO_TARGET_DIR, a target-dir in a cargo config, or the
# workspace's own target/, as cargo itself resolves it.
cargo_target_dir() {
  local dir
  dir="$(cargo metadata --format-version 1 --no-deps "$@" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  [ -n "$dir" ] || die "cargo metadata named no target directory"
  printf '%s\n' "$dir"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

apt_install() {
  [ $# -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing: $* (install them; apt-get is not available here)"
  log "installing: $*"
  if [ -z "${TICKSTOCK_APT_UPDATED:-}" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    export TICKSTOCK_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Packages for building and running the desktop app.
ensure_build_deps() {
  local pkgs=()
  command -v cc >/dev/null 2>&1 || pkgs+=(build-essential)
  command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl ca-certificates)
  pkg-config --exists webkit2gtk-4.1 2>/dev/null || pkgs+=(libwebkit2gtk-4.1-dev)
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
  apt_install "${pkgs[@]}"
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
      log "installing the Rust toolchain (rustup)"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
    }
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}

# Packages the test suite needs on top: Redis, PostgreSQL, Xvfb and WebKit's WebDriver.
ensure_test_deps() {
  local pkgs=()
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  command -v psql >/dev/null 2>&1 || pkgs+=(postgresql postgresql-contrib)
  command -v Xvfb >/dev/null 2>&1 || pkgs+=(xvfb xauth)
  command -v WebKitWebDriver >/dev/null 2>&1 || pkgs+=(webkit2gtk-driver)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v dbus-daemon >/dev/null 2>&1 || pkgs+=(dbus)
  apt_install "${pkgs[@]}"
}

# tauri-driver (the WebDriver front for Tauri apps) for the end-to-end tests.
ensure_tauri_driver() {
  if command -v tauri-driver >/dev/null 2>&1; then return 0; fi
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  if command -v tauri-driver >/dev/null 2>&1; then return 0; fi
  log "installing tauri-driver (cargo install tauri-driver --version ^2 --locked)"
  cargo install tauri-driver --version '^2' --locked
  command -v tauri-driver >/dev/null 2>&1 || die "tauri-driver was installed but is not on PATH"
}

# Services this shell started (stop_started_services stops them again).
STARTED_REDIS=""
STARTED_PG_CLUSTER=""
STARTED_PG_PRIVATE=""
PG_RUN=()

# Redis on 127.0.0.1:6379: use it if it answers, else start one.
ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p "$STATE_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$STATE_DIR/redis" --logfile "$STATE_DIR/redis/redis.log"
  for _ in $(seq 50); do
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then STARTED_REDIS=1; return 0; fi
    sleep 0.1
  done
  die "Redis did not start (see $STATE_DIR/redis/redis.log)"
}

pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# Where the private PostgreSQL cluster lives. As root the server runs as the `postgres` user,
# which cannot enter root's home (0700), so the cluster goes under /var/tmp, owned by it; a
# normal user runs the server as themselves, in their cache folder.
pg_private_dir() {
  if [ -n "${TICKSTOCK_PG_DIR:-}" ]; then echo "$TICKSTOCK_PG_DIR"
  elif [ "$(id -u)" -eq 0 ]; then echo /var/tmp/tickstock-admin-pg
  else echo "$STATE_DIR/pg"; fi
}

# PostgreSQL accepting `postgres` without a password: the running one on 5432 if it does,
# else a private cluster of ours on 55432. Exports TEST_PG_URL.
# TICKSTOCK_PG_SHARED_URL and TICKSTOCK_PG_PORT override the two (for tests of this function).
ensure_postgres() {
  local shared="${TICKSTOCK_PG_SHARED_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if psql "$shared" -Atqc 'select 1' >/dev/null 2>&1; then export TEST_PG_URL="$shared"; return 0; fi
  if [ -z "${TICKSTOCK_PG_SHARED_URL:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1 \
     && ls /etc/postgresql/*/main >/dev/null 2>&1 \
     && ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    log "starting the system PostgreSQL"
    local version; version="$(ls /etc/postgresql | sort -V | tail -1)"
    if pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1; then
      STARTED_PG_CLUSTER="$version"
    fi
    sleep 1
    if psql "$shared" -Atqc 'select 1' >/dev/null 2>&1; then export TEST_PG_URL="$shared"; return 0; fi
  fi
  local bin; bin="$(pg_bindir)"; [ -n "$bin" ] || die "PostgreSQL server binaries not found"
  local dir port="${TICKSTOCK_PG_PORT:-55432}"
  dir="$(pg_private_dir)"
  PG_RUN=()
  if [ "$(id -u)" -eq 0 ]; then
    PG_RUN=(runuser -u postgres --)
    mkdir -p "$dir"
    chown -R postgres: "$dir"
    chmod 0700 "$dir"
  else
    mkdir -p "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $dir"
    "${PG_RUN[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null
  fi
  if ! pg_isready -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
    log "starting the private PostgreSQL on 127.0.0.1:$port"
    "${PG_RUN[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
    STARTED_PG_PRIVATE="$dir"
  fi
  export TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  psql "$TEST_PG_URL" -Atqc 'select 1' >/dev/null || die "PostgreSQL on $port does not accept connections"
}

# Stops what ensure_redis and ensure_postgres started (nothing that already ran), unless
# TICKSTOCK_KEEP_SERVICES=1.
stop_started_services() {
  if [ "${TICKSTOCK_KEEP_SERVICES:-0}" = "1" ]; then
    [ -n "$STARTED_REDIS$STARTED_PG_CLUSTER$STARTED_PG_PRIVATE" ] \
      && log "keeping the services this run started (TICKSTOCK_KEEP_SERVICES=1)"
    return 0
  fi
  if [ -n "$STARTED_REDIS" ]; then
    log "stopping the Redis this run started"
    redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
  fi
  if [ -n "$STARTED_PG_PRIVATE" ]; then
    log "stopping the private PostgreSQL this run started"
    "${PG_RUN[@]}" "$(pg_bindir)/pg_ctl" -D "$STARTED_PG_PRIVATE" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$STARTED_PG_CLUSTER" ]; then
    log "stopping the system PostgreSQL this run started"
    pg_ctlcluster --skip-systemctl-redirect "$STARTED_PG_CLUSTER" main stop >/dev/null 2>&1 || true
  fi
}

# Deletes the keys of the test namespaces this run created (prefix TICKSTOCK_TEST_NS_PREFIX),
# so a shared Redis keeps nothing of the run.
clean_test_keys() {
  local prefix="${TICKSTOCK_TEST_NS_PREFIX:-}" url="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  [ -n "$prefix" ] || return 0
  redis-cli -u "$url" ping >/dev/null 2>&1 || return 0
  local n
  n="$(redis-cli -u "$url" --scan --pattern "$prefix-*" | wc -l)"
  if [ "$n" -gt 0 ]; then
    redis-cli -u "$url" --scan --pattern "$prefix-*" | xargs -r -d '\n' -n 500 redis-cli -u "$url" unlink >/dev/null
    log "removed $n test keys ($prefix-*) from $url"
  fi
}

build_ui() {
  if [ -x "$ROOT/scripts/build-ui.sh" ]; then "$ROOT/scripts/build-ui.sh"; fi
}
