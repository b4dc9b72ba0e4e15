//! The app process's allocator, held flat over a day of use on Linux. glibc gives each
//! thread that allocates an arena of its own (up to eight a core) and keeps what is freed
//! in it: in the memory soak (`scripts/measure-app.sh --soak`) the app process ended
//! about 9 MiB higher than with two arenas. The cap is a tunable read when a process
//! starts, so the app starts itself again with it (the same process, by `exec`), unless
//! `GLIBC_TUNABLES` is already set (an operator's own tunables are kept as they are).

/// The tunable the app runs with.
pub const MALLOC_TUNABLES: &str = "glibc.malloc.arena_max=2";

/// Re-executes the app with [`MALLOC_TUNABLES`] when it runs without tunables. Call first
/// in `main`; when the `exec` fails the app goes on as it is.
pub fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        // Returns only on failure (the binary replaced on disk, say).
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
            .exec();
    }
}
