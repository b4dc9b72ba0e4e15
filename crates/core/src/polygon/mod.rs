//! The Polygon (Massive) REST client.
