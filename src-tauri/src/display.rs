//! Whether a window can be opened here. Without a display (over SSH, on a server, in a
//! container) the window layer would panic inside its event loop; the app says so in one
//! sentence instead, with what to do, and exits with status 1.

/// What to say when no window can be opened.
fn no_display(detail: &str) -> String {
    format!(
        "TickStock Admin needs a graphical display and {detail}: start it from a desktop session \
         (or set DISPLAY to a running X server), or use the `tickstock` command line on a server."
    )
}

/// `Ok` when a window can be opened; else the sentence to print.
#[cfg(target_os = "linux")]
pub fn check() -> Result<(), String> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Err(no_display(
            "none is available (neither DISPLAY nor WAYLAND_DISPLAY is set)",
        ));
    }
    gtk::init().map_err(|_| {
        let which = std::env::var("DISPLAY")
            .ok()
            .filter(|d| !d.is_empty())
            .map(|d| format!("the display \"{}\" cannot be opened", d.escape_default()))
            .unwrap_or_else(|| "the Wayland display cannot be opened".into());
        no_display(&which)
    })
}

/// `Ok` when a window can be opened; else the sentence to print.
#[cfg(not(target_os = "linux"))]
pub fn check() -> Result<(), String> {
    Ok(())
}
