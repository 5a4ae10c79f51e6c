-- exportd schema v8: the readiness probe. GET /readyz rewrites this one row: a commit that
-- must reach the disk, so a database that cannot take writes is reported not ready.
CREATE TABLE readiness_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
