//! Redis for tests: the shared server (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`)
//! with a fresh namespace per test, and private servers that a test owns.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// URL of the shared Redis the suite runs against.
pub fn shared_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A namespace no other test uses, so tests share one Redis without FLUSHDB:
/// `PREFIX-` + 12 hex digits, where PREFIX is `TICKSTOCK_TEST_NS_PREFIX` (default `test`).
/// `scripts/test.sh` gives each run a prefix of its own and deletes its keys at the end.
pub fn unique_namespace() -> String {
    let prefix = std::env::var("TICKSTOCK_TEST_NS_PREFIX")
        .ok()
        .filter(|p| !p.is_empty() && !p.contains([':', '*', '?', '[', ']', ' ']))
        .unwrap_or_else(|| "test".into());
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A `redis-server` process owned by one test, persisting to an append-only file in its
/// own directory so a restart keeps the data (as a production restart would).
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    password: Option<String>,
    tls: bool,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        Self::start_with_password(None)
    }

    /// Starts a server that requires `password` (`requirepass`).
    pub fn start_with_password(password: Option<&str>) -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
            password: password.map(str::to_string),
            tls: false,
        };
        s.spawn();
        s
    }

    /// Starts a server that speaks only TLS, with a self-signed certificate for 127.0.0.1
    /// made by `openssl` in its own directory. Connect with [`RedisServer::url`]
    /// (`rediss://…/#insecure`: the test certificate is not in any trust store).
    pub fn start_tls(password: Option<&str>) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed for the TLS tests");
        assert!(status.success(), "openssl could not make a certificate");
        let mut s = RedisServer {
            port: free_port(),
            dir,
            child: None,
            password: password.map(str::to_string),
            tls: true,
        };
        s.spawn();
        s
    }

    fn binary() -> PathBuf {
        std::env::var_os("REDIS_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("redis-server"))
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(Self::binary());
        if self.tls {
            let p = self.dir.path();
            cmd.arg("--port")
                .arg("0")
                .arg("--tls-port")
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(p.join("cert.pem"))
                .arg("--tls-key-file")
                .arg(p.join("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(p.join("cert.pem"))
                .arg("--tls-auth-clients")
                .arg("no");
        } else {
            cmd.arg("--port").arg(self.port.to_string());
        }
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--appendonly")
            .arg("yes")
            .arg("--save")
            .arg("")
            .arg("--daemonize")
            .arg("no")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &self.password {
            cmd.arg("--requirepass").arg(p);
        }
        let child = cmd
            .spawn()
            .expect("redis-server could not start (is it installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                // Accepting connections; give it a moment to load the AOF.
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Freezes the server (SIGSTOP), as a stalled host, a long fork or a paused VM does:
    /// connections stay open and nothing answers until [`RedisServer::thaw`].
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "could not send SIG{sig} to redis-server");
    }

    /// `redis://[:password@]127.0.0.1:PORT` (`rediss://…/#insecure` for a TLS server).
    pub fn url(&self) -> String {
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        if self.tls {
            format!("rediss://{auth}127.0.0.1:{}/#insecure", self.port)
        } else {
            format!("redis://{auth}127.0.0.1:{}", self.port)
        }
    }

    /// Stops the server (SIGKILL after the data is on disk: appendfsync is per second, so
    /// ask it to rewrite first).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let mut cli = Command::new("redis-cli");
            cli.arg("-p").arg(self.port.to_string());
            if self.tls {
                cli.arg("--tls").arg("--insecure");
            }
            if let Some(p) = &self.password {
                cli.arg("-a").arg(p).arg("--no-auth-warning");
            }
            let _ = cli
                .arg("shutdown")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills it and starts it again on the same port with no data, as a server without
    /// persistence comes back after a crash or a reboot.
    pub fn restart_empty(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for data in ["appendonlydir", "appendonly.aof", "dump.rdb"] {
            let path = self.dir.path().join(data);
            let _ = std::fs::remove_dir_all(&path);
            let _ = std::fs::remove_file(&path);
        }
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
