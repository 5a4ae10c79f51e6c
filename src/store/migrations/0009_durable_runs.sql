-- exportd schema v9: runs that wait. A PENDING run with run_after set is a retry waiting for
-- its backoff (a failed backfill window): the scheduler queues it once run_after has passed. A
-- PENDING run without it is queued at once (and again at every start until it ends).
ALTER TABLE runs ADD COLUMN run_after INTEGER;
CREATE INDEX runs_waiting ON runs (run_after) WHERE run_after IS NOT NULL;
