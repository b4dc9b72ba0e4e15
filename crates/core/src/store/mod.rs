//! PostgreSQL and SQLite storage.
