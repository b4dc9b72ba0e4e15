# Shared by run.sh and test.sh: install what is missing, start what is not running.
# Uses what is already there; installs with apt-get on Debian/Ubuntu (as root or via sudo).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/tickstock-admin"
mkdir -p "$STATE_DIR"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

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

# Redis on 127.0.0.1:6379: use it if it answers, else start one.
ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p "$STATE_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$STATE_DIR/redis" --logfile "$STATE_DIR/redis/redis.log"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "Redis did not start (see $STATE_DIR/redis/redis.log)"
}

pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# PostgreSQL accepting `postgres` without a password: the running one on 5432 if it does,
# else a private cluster of ours on 55432. Exports TEST_PG_URL.
ensure_postgres() {
  local shared="postgres://postgres@127.0.0.1:5432/postgres"
  if psql "$shared" -Atqc 'select 1' >/dev/null 2>&1; then export TEST_PG_URL="$shared"; return 0; fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1 \
     && ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    log "starting the system PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >/dev/null 2>&1 || true
    sleep 1
    if psql "$shared" -Atqc 'select 1' >/dev/null 2>&1; then export TEST_PG_URL="$shared"; return 0; fi
  fi
  local bin; bin="$(pg_bindir)"; [ -n "$bin" ] || die "PostgreSQL server binaries not found"
  local dir="$STATE_DIR/pg" port=55432 run=()
  if [ "$(id -u)" -eq 0 ]; then run=(runuser -u postgres --); mkdir -p "$dir"; chown postgres "$dir"; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $dir"
    "${run[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null
  fi
  if ! pg_isready -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
    log "starting the private PostgreSQL on 127.0.0.1:$port"
    "${run[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
  fi
  export TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  psql "$TEST_PG_URL" -Atqc 'select 1' >/dev/null || die "PostgreSQL on $port does not accept connections"
}

build_ui() {
  if [ -x "$ROOT/scripts/build-ui.sh" ]; then "$ROOT/scripts/build-ui.sh"; fi
}
