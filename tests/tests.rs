//! tests

mod polygon;
