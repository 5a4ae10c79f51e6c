-- exportd schema v8: a run whose object was later replaced by another run's (the same key in
-- the same store: a force run of a window the scheduler then exports again, say) is marked
-- superseded, so its record never describes bytes that are no longer there. superseded_by
-- names the run that replaced it when both are in the same environment.

ALTER TABLE runs ADD COLUMN superseded_by TEXT;
ALTER TABLE runs ADD COLUMN superseded_at INTEGER;

CREATE INDEX runs_object_key ON runs (object_key) WHERE object_key IS NOT NULL;

-- Runs completed before this version: within one task the key decides the object, so every
-- completed run whose key a later completed run of the same task wrote again is superseded
-- by the latest one.
UPDATE runs SET
    superseded_by = (
        SELECT later.id FROM runs AS later
        WHERE later.scheduled_task_id = runs.scheduled_task_id
          AND later.object_key = runs.object_key
          AND later.task_status = 'COMPLETED'
          AND (later.completed_at, later.id) > (runs.completed_at, runs.id)
        ORDER BY later.completed_at DESC, later.id DESC LIMIT 1),
    superseded_at = (
        SELECT MAX(later.completed_at) FROM runs AS later
        WHERE later.scheduled_task_id = runs.scheduled_task_id
          AND later.object_key = runs.object_key
          AND later.task_status = 'COMPLETED'
          AND (later.completed_at, later.id) > (runs.completed_at, runs.id))
WHERE task_status = 'COMPLETED' AND object_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM runs AS later
    WHERE later.scheduled_task_id = runs.scheduled_task_id
      AND later.object_key = runs.object_key
      AND later.task_status = 'COMPLETED'
      AND (later.completed_at, later.id) > (runs.completed_at, runs.id));
