//! tests

mod store;
