//! Reads the top-level tauri.conf.json and declares the app's commands, so that the page
//! may call only those its capability (capabilities/main.json) grants.

const COMMANDS: &[&str] = &[
    "health",
    "validate_job",
    "submit_job",
    "active_jobs",
    "list_jobs",
    "job_detail",
    "cancel_job",
    "cancel_all",
    "retry_job",
    "bulk_jobs",
    "estimate_job",
    "history_page",
    "cleanup_stale",
    "clear_jobs",
    "export_jobs_csv",
    "list_universes",
    "universe_preview",
    "data_summary",
    "get_settings",
    "save_settings",
    "settings_impact",
    "test_redis",
    "test_database",
    "test_polygon",
    "open_log_dir",
    "notify",
    "about",
    "coverage_map",
    "coverage_gaps",
    "fill_gaps",
    "estimate_fill",
    "list_schedules",
    "set_schedule_enabled",
    "run_schedule",
    "queue_view",
    "pause_queue",
    "resume_queue",
    "list_workers",
    "command_worker",
    "list_dead_letters",
    "requeue_dead_letter",
    "delete_dead_letter",
    "purge_dead_letters",
    "dashboard",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .config_path("../tauri.conf.json")
            .capabilities_path_pattern("./capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("failed to run tauri-build");
}
