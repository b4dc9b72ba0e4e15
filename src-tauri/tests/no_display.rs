//! The app started without a display (over SSH, on a server) says so in one sentence and
//! exits with status 1: no panic, no source path.

use std::process::Command;

fn run_without(display: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickstock-admin"));
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    if let Some(d) = display {
        cmd.env("DISPLAY", d);
    }
    cmd.output().expect("start tickstock-admin")
}

fn assert_one_sentence(out: &std::process::Output, names: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains(".rs:"), "no source path: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    assert!(err.contains("needs a graphical display"), "{err}");
    assert!(err.contains(names), "{err}");
    assert!(err.contains("`tickstock` command line"), "{err}");
}

#[test]
fn without_display_variables_the_app_says_so_and_exits_1() {
    let out = run_without(None);
    assert_one_sentence(&out, "neither DISPLAY nor WAYLAND_DISPLAY is set");
}

#[test]
fn with_a_display_that_cannot_be_opened_the_app_names_it_and_exits_1() {
    // A display number no X server serves.
    let out = run_without(Some(":4711"));
    assert_one_sentence(&out, "\":4711\" cannot be opened");
}
