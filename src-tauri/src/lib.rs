//! TickStock Admin desktop app: a thin Tauri shell over `tickstock-core`.

/// Starts the desktop app.
pub fn run() {
    tauri::Builder::default()
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running TickStock Admin");
}
