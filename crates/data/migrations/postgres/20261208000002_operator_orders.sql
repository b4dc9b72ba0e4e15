-- A durable copy of the operator's orders that Redis keeps (the queue's pause), by the
-- Redis key they are kept at: workers put them back when Redis restarts empty.
CREATE TABLE IF NOT EXISTS operator_orders (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
