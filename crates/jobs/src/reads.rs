//! What a shell reads of the stored data and history, beside the job service: coverage and
//! gaps, the heat map, the holiday check, the dashboard, the CSV export, estimates and
//! history pages.

pub use tickstock_data::loader::estimate;
pub use tickstock_data::store::history_query;
pub use tickstock_data::{calendar_check, completeness, dashboard, export, heatmap};
