//! Harness for the end-to-end tests: runs the real `tickstock-admin` binary under a private
//! Xvfb display, driven by `tauri-driver` (which fronts WebKitWebDriver), and talks to it
//! with fantoccini.
//!
//! Every [`App`] has its own display, its own ports, and its own XDG data, config, cache
//! and state folders (a temporary directory), so the app starts with an empty store and
//! tests can run in parallel. The app inherits `tauri-driver`'s environment, so the
//! settings the tests need are passed as environment variables ([`AppEnv`]).
//!
//! Anything missing on the machine (Xvfb, tauri-driver, WebKitWebDriver, the vendored
//! Bootstrap in `ui/vendor`) fails the test with a message saying what to install.
//! Everything started here is killed when the [`App`] is dropped.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::fs::File;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod page;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// The app binary cargo built for this test.
pub const APP_BIN: &str = env!("CARGO_BIN_EXE_tickstock-admin");

/// The app under test: `$E2E_APP_BIN` when set (such as the release binary a package
/// installs, `scripts/package.sh --check`), else the one cargo built.
pub fn app_bin() -> String {
    std::env::var("E2E_APP_BIN")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| APP_BIN.to_string())
}
/// Repository root.
pub const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// How long the app gets to show a ready page after the session opens.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where artifacts (screenshots, driver logs) go: `$E2E_ARTIFACTS`, else
/// `<target dir>/e2e-artifacts`.
pub fn artifacts_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("E2E_ARTIFACTS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // CARGO_BIN_EXE_* is <target>/<profile>/tickstock-admin.
    Path::new(APP_BIN)
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("e2e-artifacts"))
        .unwrap_or_else(|| std::env::temp_dir().join("tickstock-e2e-artifacts"))
}

/// Finds an executable on PATH (or at one of `extra` absolute paths).
fn which(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(extra.iter().cloned())
        .find(|p| p.is_file())
}

/// The external programs the harness needs, or a panic naming what to install.
struct Tools {
    xvfb: PathBuf,
    tauri_driver: PathBuf,
    webkit_driver: PathBuf,
}

fn tools() -> Tools {
    let mut missing = Vec::new();
    let xvfb = which("Xvfb", &[]);
    if xvfb.is_none() {
        missing.push("Xvfb (Debian/Ubuntu: apt-get install xvfb)".to_string());
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin/tauri-driver"));
    let tauri_driver = which("tauri-driver", &cargo_bin.into_iter().collect::<Vec<_>>());
    if tauri_driver.is_none() {
        missing.push(
            "tauri-driver (cargo install tauri-driver --version ^2 --locked; scripts/test.sh does it)"
                .to_string(),
        );
    }
    let webkit_driver = which(
        "WebKitWebDriver",
        &[PathBuf::from("/usr/bin/WebKitWebDriver")],
    );
    if webkit_driver.is_none() {
        missing.push("WebKitWebDriver (Debian/Ubuntu: apt-get install webkit2gtk-driver)".into());
    }
    let vendor = Path::new(REPO_ROOT).join("ui/vendor/bootstrap/bootstrap.min.css");
    if !vendor.is_file() {
        missing.push(format!(
            "the page's vendored Bootstrap ({} is missing: run scripts/build-ui.sh, then rebuild the app)",
            vendor.display()
        ));
    }
    if !missing.is_empty() {
        panic!(
            "the end-to-end tests cannot run; missing:\n  - {}",
            missing.join("\n  - ")
        );
    }
    Tools {
        xvfb: xvfb.unwrap(),
        tauri_driver: tauri_driver.unwrap(),
        webkit_driver: webkit_driver.unwrap(),
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free TCP port on 127.0.0.1")
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Kills a child and waits for it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether any process of process group `pgid` is still there (zombies aside).
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        f.first() != Some(&"Z") && f.get(2) == Some(&pgid.to_string().as_str())
    })
}

/// Kills every process of the process group `pgid` (a group this harness created) and
/// waits a moment for them to go.
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(3);
    while group_alive(pgid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private X server.
pub struct Xvfb {
    child: Child,
    pub display: u32,
}

static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

impl Xvfb {
    fn start(bin: &Path, log: &Path) -> Xvfb {
        // Spread parallel test processes over the range; within a process, count up.
        let base = 100 + (std::process::id() % 400) * 2;
        for _ in 0..60 {
            let n = base + NEXT_DISPLAY.fetch_add(1, Ordering::SeqCst) % 800;
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let mut child = Command::new(bin)
                .arg(format!(":{n}"))
                .args(["-screen", "0", "1280x900x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(log).map(Stdio::from).unwrap_or(Stdio::null()))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if socket.exists() {
                    return Xvfb { child, display: n };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // display taken meanwhile: try the next one
                }
                if Instant::now() > deadline {
                    kill(&mut child);
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("Xvfb did not start on any display (see {})", log.display());
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Environment for the app (it inherits it through tauri-driver and WebKitWebDriver).
#[derive(Debug, Clone, Default)]
pub struct AppEnv {
    pub vars: Vec<(String, String)>,
}

impl AppEnv {
    pub fn new() -> AppEnv {
        AppEnv::default()
    }

    pub fn var(mut self, key: &str, value: impl Into<String>) -> AppEnv {
        self.vars.push((key.to_string(), value.into()));
        self
    }

    /// Embedded mode: no Redis.
    pub fn embedded(self) -> AppEnv {
        self.var("TICKSTOCK_REDIS_URL", "")
    }

    /// Polygon at `base_url` with `key`, no rate limit.
    pub fn polygon(self, base_url: &str, key: &str) -> AppEnv {
        self.var("POLYGON_BASE_URL", base_url)
            .var("POLYGON_API_KEY", key)
            .var("POLYGON_RPM", "0")
    }
}

/// Variables of the test's own environment that must not reach the app (they would
/// change its settings).
const SCRUBBED: &[&str] = &[
    "TICKSTOCK_REDIS_URL",
    "TICKSTOCK_NAMESPACE",
    "TICKSTOCK_DATABASE_URL",
    "TICKSTOCK_WORKER",
    "TICKSTOCK_WORKER_CONCURRENCY",
    "TICKSTOCK_PUBLISH_LEGACY",
    "POLYGON_BASE_URL",
    "POLYGON_API_KEY",
    "POLYGON_RPM",
    "WAYLAND_DISPLAY",
    "DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    // The app sets its own allocator tunables (`tickstock_app::memory`).
    "GLIBC_TUNABLES",
];

/// tauri-driver and everything it started (its own process group), killed on drop, also
/// when a test fails half-way through the launch.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(self.0.id());
        kill(&mut self.0);
    }
}

/// One running app, driven over WebDriver. Fields drop in order: the processes go first,
/// then the X server, then the app's folders.
pub struct App {
    driver: Driver,
    xvfb: Xvfb,
    pub client: Client,
    /// The app's private folders (XDG_DATA_HOME is `<dir>/data`).
    pub dir: tempfile::TempDir,
    /// This test's artifacts folder.
    pub artifacts: PathBuf,
    /// How long it took from asking for a session to `body[data-ready="1"]`.
    pub time_to_ready: Duration,
    driver_log: PathBuf,
}

impl App {
    /// Fresh, empty folders for one app (XDG data, config, cache, state, runtime).
    pub fn fresh_dirs() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("tickstock-e2e-")
            .tempdir()
            .expect("tempdir");
        for sub in ["data", "config", "cache", "state", "runtime"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create app folder");
        }
        let _ = std::fs::set_permissions(
            dir.path().join("runtime"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        );
        dir
    }

    /// The default SQLite database of an app whose folders are `dir`.
    pub fn default_sqlite_in(dir: &Path) -> PathBuf {
        dir.join("data/io.tickstock.admin/tickstock.sqlite")
    }

    /// Starts Xvfb, tauri-driver and the app in fresh folders; waits until the page is ready.
    pub async fn launch(name: &str, env: AppEnv) -> App {
        Self::launch_in(name, env, Self::fresh_dirs()).await
    }

    /// [`App::launch`] with folders prepared by the caller ([`App::fresh_dirs`]).
    pub async fn launch_in(name: &str, env: AppEnv, dir: tempfile::TempDir) -> App {
        let tools = tools();
        let artifacts = artifacts_root().join(name);
        std::fs::create_dir_all(&artifacts)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", artifacts.display()));

        let xvfb = Xvfb::start(&tools.xvfb, &artifacts.join("xvfb.log"));
        let port = free_port();
        let mut native_port = free_port();
        while native_port == port {
            native_port = free_port();
        }
        let driver_log = artifacts.join("driver.log");
        let log = File::create(&driver_log).expect("create driver log");
        let mut cmd = Command::new(&tools.tauri_driver);
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg(native_port.to_string())
            .arg("--native-driver")
            .arg(&tools.webkit_driver);
        for v in SCRUBBED {
            cmd.env_remove(v);
        }
        let d = dir.path();
        cmd.env("DISPLAY", format!(":{}", xvfb.display))
            .env("GDK_BACKEND", "x11")
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_RUNTIME_DIR", d.join("runtime"))
            // No accessibility bus or GPU under Xvfb; both only slow the start down.
            .env("NO_AT_BRIDGE", "1")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env(
                "RUST_LOG",
                std::env::var("E2E_APP_LOG").unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
            );
        for (k, v) in &env.vars {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            // Its own process group, so WebKitWebDriver and the app die with it.
            .process_group(0);
        let mut driver = Driver(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", tools.tauri_driver.display())),
        );

        let deadline = Instant::now() + Duration::from_secs(20);
        while !(accepts(port) && accepts(native_port)) {
            if let Ok(Some(status)) = driver.0.try_wait() {
                panic!(
                    "tauri-driver exited ({status}) before accepting connections:\n{}",
                    tail(&driver_log)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "tauri-driver (port {port}) or WebKitWebDriver (port {native_port}) did not accept connections within 20 s:\n{}",
                    tail(&driver_log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut caps = serde_json::Map::new();
        let app_bin = app_bin();
        caps.insert("tauri:options".into(), json!({ "application": app_bin }));
        caps.insert("browserName".into(), json!("wry"));
        let started = Instant::now();
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let client = match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => c,
            Err(e) => {
                panic!(
                    "no WebDriver session with the app ({app_bin}): {e}\n{}",
                    tail(&driver_log)
                );
            }
        };
        let mut app = App {
            driver,
            xvfb,
            client,
            dir,
            artifacts,
            time_to_ready: Duration::ZERO,
            driver_log,
        };
        app.wait_js(
            "the page to be ready (body[data-ready=\"1\"])",
            READY_TIMEOUT,
            "return document.body && document.body.dataset.ready === '1';",
        )
        .await;
        app.time_to_ready = started.elapsed();
        app
    }

    /// XDG_DATA_HOME of the app.
    pub fn data_home(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The default SQLite database of the app (`<XDG_DATA_HOME>/<identifier>/tickstock.sqlite`).
    pub fn default_sqlite(&self) -> PathBuf {
        Self::default_sqlite_in(self.dir.path())
    }

    /// Every process started under tauri-driver (WebKitWebDriver, the app, the app's
    /// WebKit processes), as (pid, command line).
    pub fn processes(&self) -> Vec<(u32, String)> {
        let mut parent_of = Vec::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                let Some(close) = stat.rfind(')') else {
                    continue;
                };
                let ppid: u32 = stat[close + 1..]
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                parent_of.push((pid, ppid));
            }
        }
        let mut tree = vec![self.driver.0.id()];
        let mut i = 0;
        while i < tree.len() {
            let p = tree[i];
            tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        tree.into_iter()
            .skip(1)
            .map(|pid| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|b| {
                        String::from_utf8_lossy(&b)
                            .replace('\0', " ")
                            .trim()
                            .to_string()
                    })
                    .unwrap_or_default();
                (pid, cmd)
            })
            .collect()
    }

    /// Runs a script (a function body; use `return`) and returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.js_args(script, vec![]).await
    }

    pub async fn js_args(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(v) => v,
            Err(e) => {
                self.save_failure("script").await;
                panic!("script failed: {e}\n--- script:\n{script}");
            }
        }
    }

    /// Polls `script` until it returns something truthy (not null/false/""/0); returns it.
    pub async fn wait_js(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        loop {
            match self.client.execute(script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(_) => {}
                Err(e) => last_err = Some(e.to_string()),
            }
            if Instant::now() > deadline {
                self.save_failure("timeout").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}{}\nartifacts: {}\n--- driver log tail:\n{}",
                    last_err.map(|e| format!(" (last error: {e})")).unwrap_or_default(),
                    self.artifacts.display(),
                    tail(&self.driver_log),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Finds an element, failing with the selector in the message.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                self.save_failure("find").await;
                panic!("element {css} not found: {e}");
            }
        }
    }

    /// Clicks an element.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        if let Err(e) = el.click().await {
            self.save_failure("click").await;
            panic!("cannot click {css}: {e}");
        }
    }

    /// Replaces the text of an input or textarea by typing `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Picks the option with `value` in a select (WebDriver clicks the option, which fires
    /// `input` and `change`). Falls back to setting it as the user's pick would when the
    /// click did not take.
    pub async fn select(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot select {value} in {css}: {e}"));
        let after = self
            .js_args(
                "return document.querySelector(arguments[0]).value;",
                vec![json!(css)],
            )
            .await;
        if after.as_str() != Some(value) {
            self.set_value(css, value).await;
        }
    }

    /// Sets a field's value and fires `input` and `change`, as an edit by the user does
    /// (for date inputs, whose native pickers WebDriver cannot type into reliably).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.js_args(
            "const n = document.querySelector(arguments[0]);
             if (!n) throw new Error('no element ' + arguments[0]);
             n.value = arguments[1];
             n.dispatchEvent(new Event('input', {bubbles: true}));
             n.dispatchEvent(new Event('change', {bubbles: true}));
             return n.value;",
            vec![json!(css), json!(value)],
        )
        .await;
    }

    /// Text content of the first match (`None` when absent).
    pub async fn text(&self, css: &str) -> Option<String> {
        self.js_args(
            "const n = document.querySelector(arguments[0]); return n ? n.textContent.trim() : null;",
            vec![json!(css)],
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot failed: {e}"))
    }

    /// Saves a screenshot and the page's HTML into the artifacts folder (best effort).
    pub async fn save_failure(&self, tag: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.artifacts.join(format!("failure-{tag}.png")), png);
        }
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(self.artifacts.join(format!("failure-{tag}.html")), html);
        }
    }

    /// The driver and app log so far (last lines).
    pub fn log_tail(&self) -> String {
        tail(&self.driver_log)
    }

    /// Ends the WebDriver session (which quits the app), then stops everything.
    pub async fn close(self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        // Dropping self kills what is left.
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// The last 60 lines of a log file.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Serializes the tests of one binary when `E2E_SERIAL=1` (for machines where
/// WebKitWebDriver instances trip over each other).
pub async fn serial_guard() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    if std::env::var("E2E_SERIAL").is_ok_and(|v| v == "1") {
        Some(LOCK.lock().await)
    } else {
        None
    }
}
