#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    tickstock_app::memory::cap_malloc_arenas();
    if let Err(why) = tickstock_app::display::check() {
        eprintln!("{why}");
        std::process::exit(1);
    }
    tickstock_app::run();
}
