//! Native desktop notifications: the freedesktop Notifications service over D-Bus on
//! Linux; elsewhere, or where no such service runs, nothing is shown (the page's toast
//! remains).

/// Shows a native desktop notification (freedesktop Notifications over D-Bus on Linux).
/// Where no notification service runs, nothing is shown: the page's toast remains.
pub fn desktop_notification(title: &str, body: &str) {
    #[cfg(target_os = "linux")]
    {
        let (title, body) = (title.to_string(), body.to_string());
        std::thread::spawn(move || {
            if let Err(e) = notify_dbus(&title, &body) {
                tracing::debug!("no desktop notification: {e}");
            }
        });
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (title, body);
    }
}

#[cfg(target_os = "linux")]
fn notify_dbus(title: &str, body: &str) -> zbus::Result<()> {
    notify_on(&zbus::blocking::Connection::session()?, title, body)
}

#[cfg(target_os = "linux")]
fn notify_on(conn: &zbus::blocking::Connection, title: &str, body: &str) -> zbus::Result<()> {
    use std::collections::HashMap;
    let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
    conn.call_method(
        Some("org.freedesktop.Notifications"),
        "/org/freedesktop/Notifications",
        Some("org.freedesktop.Notifications"),
        "Notify",
        &(
            "TickStock Admin",
            0u32,
            "",
            title,
            body,
            Vec::<&str>::new(),
            hints,
            5000i32,
        ),
    )?;
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    use zbus::zvariant::OwnedValue;

    struct Recorder(Arc<Mutex<Vec<(String, String, String)>>>);

    #[zbus::interface(name = "org.freedesktop.Notifications")]
    impl Recorder {
        #[allow(clippy::too_many_arguments)]
        fn notify(
            &self,
            app_name: &str,
            _replaces_id: u32,
            _app_icon: &str,
            summary: &str,
            body: &str,
            _actions: Vec<String>,
            _hints: HashMap<String, OwnedValue>,
            _expire_timeout: i32,
        ) -> u32 {
            self.0
                .lock()
                .unwrap()
                .push((app_name.into(), summary.into(), body.into()));
            1
        }
    }

    #[test]
    fn notifications_go_to_the_freedesktop_service() {
        // A private session bus and a notification service that records what it gets.
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (package dbus) is needed");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let _service = zbus::blocking::connection::Builder::address(address.as_str())
            .unwrap()
            .name("org.freedesktop.Notifications")
            .unwrap()
            .serve_at("/org/freedesktop/Notifications", Recorder(got.clone()))
            .unwrap()
            .build()
            .unwrap();
        let client = zbus::blocking::connection::Builder::address(address.as_str())
            .unwrap()
            .build()
            .unwrap();
        super::notify_on(&client, "Job completed", "AAPL, MSFT: 38 bars").unwrap();
        let calls = got.lock().unwrap().clone();
        let _ = daemon.kill();
        let _ = daemon.wait();
        assert_eq!(
            calls,
            vec![(
                "TickStock Admin".to_string(),
                "Job completed".to_string(),
                "AAPL, MSFT: 38 bars".to_string()
            )]
        );
    }
}
