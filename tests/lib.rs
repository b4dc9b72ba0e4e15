//! Cross-crate integration suite (see tests.rs).
