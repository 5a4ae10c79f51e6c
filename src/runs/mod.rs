//! Runs: one row per export attempt, shown through the API in Flexprice's Task shape
//! (`/v1/tasks`). Also the force-run request rules, which are pure.

pub(crate) mod downloads;
pub(crate) mod execute;
pub(crate) mod handlers;
pub(crate) mod storage;
pub(crate) mod workers;

use crate::clock::{parse_rfc3339_ms, rfc3339_ms};
use crate::input::{InputError, Obj, parse_json};
use crate::scheduled_tasks::{EntityType, Interval, ScheduledTask, TaskStatus};
use crate::store::record::Stored;

crate::names::named! {
    pub(crate) enum RunStatus {
        Pending = "PENDING",
        Processing = "PROCESSING",
        Completed = "COMPLETED",
        Failed = "FAILED",
    }
}

crate::names::named! {
    /// Why a run exists.
    pub(crate) enum Trigger {
        Scheduled = "scheduled",
        Manual = "manual",
        Retry = "retry",
        Backfill = "backfill",
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub scheduled_task_id: String,
    pub entity_type: EntityType,
    pub trigger: Trigger,
    pub attempt: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub task_status: RunStatus,
    pub file_url: Option<String>,
    pub object_key: Option<String>,
    pub total_records: Option<i64>,
    pub processed_records: i64,
    pub successful_records: i64,
    pub failed_records: i64,
    pub uncompressed_bytes: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub error_summary: Option<String>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    /// The multipart upload a PROCESSING run has open (internal, not shown).
    pub upload_id: Option<String>,
    /// A PENDING retry waits until then before it is queued (internal, not shown).
    pub run_after: Option<i64>,
    /// When another run replaced this run's object (same key, same store), and which run did
    /// when it is in the same environment.
    pub superseded_at: Option<i64>,
    pub superseded_by: Option<String>,
}

/// The scheduled task a run exports and that task's connection, if both still exist.
pub(crate) fn task_and_connection(
    tx: &rusqlite::Transaction<'_>,
    run: &Run,
) -> crate::store::Result<Option<(ScheduledTask, crate::connections::Connection)>> {
    let scope = run.scope();
    let Some(task) = ScheduledTask::by_id(tx, &scope, &run.scheduled_task_id)? else {
        return Ok(None);
    };
    let connection = crate::connections::Connection::by_id(tx, &scope, &task.connection_id)?;
    Ok(connection.map(|c| (task, c)))
}

impl Run {
    /// The tenant and environment the run belongs to.
    pub(crate) fn scope(&self) -> crate::store::Scope {
        crate::store::Scope {
            tenant_id: self.tenant_id.clone(),
            environment_id: self.environment_id.clone(),
        }
    }

    /// A new PENDING run of a task's window.
    pub(crate) fn pending(
        task: &ScheduledTask,
        trigger: Trigger,
        attempt: i64,
        window: (i64, i64),
        by: &str,
        now: i64,
    ) -> Run {
        Run {
            tenant_id: task.tenant_id.clone(),
            environment_id: task.environment_id.clone(),
            scheduled_task_id: task.id.clone(),
            entity_type: task.entity_type,
            ..Run::blank(trigger, attempt, window, by, now)
        }
    }

    /// The next attempt at this run's window: same task, window and trigger, `attempt` + 1,
    /// PENDING, queued at once or (with `run_after`) once that time has passed.
    pub(crate) fn next_attempt(&self, run_after: Option<i64>, now: i64) -> Run {
        let window = (self.window_start, self.window_end);
        Run {
            tenant_id: self.tenant_id.clone(),
            environment_id: self.environment_id.clone(),
            scheduled_task_id: self.scheduled_task_id.clone(),
            entity_type: self.entity_type,
            run_after,
            ..Run::blank(self.trigger, self.attempt + 1, window, "exportd", now)
        }
    }

    /// A PENDING run with nothing recorded yet, of no task (the callers say which).
    fn blank(trigger: Trigger, attempt: i64, (start, end): (i64, i64), by: &str, now: i64) -> Run {
        Run {
            id: crate::ids::new_id(crate::ids::RUN),
            tenant_id: String::new(),
            environment_id: String::new(),
            scheduled_task_id: String::new(),
            entity_type: EntityType::Events,
            trigger,
            attempt,
            window_start: start,
            window_end: end,
            task_status: RunStatus::Pending,
            file_url: None,
            object_key: None,
            total_records: None,
            processed_records: 0,
            successful_records: 0,
            failed_records: 0,
            uncompressed_bytes: None,
            stored_bytes: None,
            sha256: None,
            error_summary: None,
            started_at: None,
            completed_at: None,
            failed_at: None,
            created_at: now,
            updated_at: now,
            created_by: by.to_owned(),
            upload_id: None,
            run_after: None,
            superseded_at: None,
            superseded_by: None,
        }
    }
}

/// What a completed export produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completed {
    pub rows: i64,
    /// `None` when `skip_empty` left an empty window without an object.
    pub object_key: Option<String>,
    pub file_url: Option<String>,
    pub uncompressed_bytes: i64,
    pub stored_bytes: i64,
    pub sha256: Option<String>,
}

/// The window of a force run and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForceWindow {
    pub start: i64,
    pub end: i64,
    /// `true` when the caller gave the bounds (`mode: "custom"`).
    pub custom: bool,
}

impl ForceWindow {
    /// Flexprice's `mode` string.
    pub(crate) fn mode(&self) -> &'static str {
        if self.custom { "custom" } else { "force run" }
    }
}

/// Why a manual run of a task is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ManualRunError {
    #[error("Scheduled task {0} has been deleted and cannot be run")]
    Deleted(String),
    #[error("{}", .0.message)]
    Window(InputError),
}

/// A new PENDING manual run of `task` for the window `body` asks for (see
/// [`parse_force_run`]). `POST /v1/tasks/scheduled/{id}/run` and `exportd export` both go
/// through here, so the command line applies the API's rules.
pub(crate) fn manual_run(
    task: &ScheduledTask,
    body: &[u8],
    by: &str,
    now: i64,
) -> Result<(Run, ForceWindow), ManualRunError> {
    if task.status == TaskStatus::Deleted {
        return Err(ManualRunError::Deleted(task.id.clone()));
    }
    let window = parse_force_run(body, task.interval, now).map_err(ManualRunError::Window)?;
    let run = Run::pending(
        task,
        Trigger::Manual,
        1,
        (window.start, window.end),
        by,
        now,
    );
    Ok((run, window))
}

/// Longest window a force run may cover: a leap year.
pub(crate) const MAX_FORCE_SPAN_MS: i64 = 366 * 24 * 3_600_000;

/// Reads a force-run body. Empty (or whitespace) and `{}` mean automatic; otherwise both
/// bounds are required. A malformed body is an error, never a silent "automatic".
pub(crate) fn parse_force_run(
    body: &[u8],
    interval: Interval,
    now: i64,
) -> Result<ForceWindow, InputError> {
    let automatic = ForceWindow {
        start: interval.floor_ms(now),
        end: interval.floor_ms(now) + interval.duration_ms(),
        custom: false,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(automatic);
    }
    let value = parse_json(body)?;
    let mut obj = Obj::root(&value)?;
    let start = obj.str("start_time", 64)?;
    let end = obj.str("end_time", 64)?;
    obj.finish()?;
    let (start, end) = match (start, end) {
        (None, None) => return Ok(automatic),
        (Some(s), Some(e)) => (timestamp("start_time", s)?, timestamp("end_time", e)?),
        (missing_end, _) => {
            let field = if missing_end.is_some() {
                "end_time"
            } else {
                "start_time"
            };
            return Err(InputError::new(
                field,
                "Please provide both start_time and end_time, or neither for automatic calculation",
            ));
        }
    };
    if end <= start {
        return Err(InputError::new(
            "end_time",
            "End time must be after start time",
        ));
    }
    if end > now {
        return Err(InputError::new(
            "end_time",
            format!(
                "End time must be in the past or present (now is {})",
                rfc3339_ms(now)
            ),
        ));
    }
    if end - start > MAX_FORCE_SPAN_MS {
        return Err(InputError::new(
            "end_time",
            "Maximum allowed time range is 366 days",
        ));
    }
    Ok(ForceWindow {
        start,
        end,
        custom: true,
    })
}

fn timestamp(field: &str, text: &str) -> Result<i64, InputError> {
    parse_rfc3339_ms(text).ok_or_else(|| {
        InputError::new(
            field,
            format!(
                "{field} must be an RFC 3339 timestamp with an offset, such as 2025-10-16T10:00:00Z"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        parse_rfc3339_ms("2025-10-16T10:40:00Z").expect("ts")
    }

    fn run(body: &str) -> Result<ForceWindow, InputError> {
        parse_force_run(body.as_bytes(), Interval::Hourly, now())
    }

    #[test]
    fn empty_bodies_mean_the_current_interval() {
        for body in ["", "  \n", "{}", r#"{"start_time":null}"#] {
            let w = run(body).expect(body);
            assert_eq!(rfc3339_ms(w.start), "2025-10-16T10:00:00Z");
            assert_eq!(rfc3339_ms(w.end), "2025-10-16T11:00:00Z");
            assert_eq!(w.mode(), "force run");
        }
        let w = parse_force_run(b"", Interval::Min30, now()).expect("ok");
        assert_eq!(rfc3339_ms(w.start), "2025-10-16T10:30:00Z");
        assert_eq!(rfc3339_ms(w.end), "2025-10-16T11:00:00Z");
    }

    #[test]
    fn custom_windows_keep_the_given_bounds_in_utc() {
        let w =
            run(r#"{"start_time":"2025-10-16T09:00:00+02:00","end_time":"2025-10-16T10:30:00Z"}"#)
                .expect("ok");
        assert_eq!(rfc3339_ms(w.start), "2025-10-16T07:00:00Z");
        assert_eq!(rfc3339_ms(w.end), "2025-10-16T10:30:00Z");
        assert_eq!(w.mode(), "custom");
    }

    #[test]
    fn every_rule_has_its_message() {
        let cases = [
            (
                r#"{"start_time":"2025-10-16T09:00:00Z"}"#,
                "Please provide both start_time and end_time, or neither for automatic calculation",
            ),
            (
                r#"{"end_time":"2025-10-16T09:00:00Z"}"#,
                "Please provide both start_time and end_time, or neither for automatic calculation",
            ),
            (
                r#"{"start_time":"2025-10-16T09:00:00Z","end_time":"2025-10-16T09:00:00Z"}"#,
                "End time must be after start time",
            ),
            (
                r#"{"start_time":"2025-10-16T09:00:00Z","end_time":"2025-10-16T08:00:00Z"}"#,
                "End time must be after start time",
            ),
            (
                r#"{"start_time":"2024-10-14T09:00:00Z","end_time":"2025-10-16T09:00:00Z"}"#,
                "Maximum allowed time range is 366 days",
            ),
        ];
        for (body, msg) in cases {
            assert_eq!(run(body).unwrap_err().message, msg, "{body}");
        }
        let err = run(r#"{"start_time":"2025-10-16T09:00:00Z","end_time":"2025-10-16T11:00:00Z"}"#)
            .unwrap_err();
        assert!(
            err.message
                .starts_with("End time must be in the past or present"),
            "{}",
            err.message
        );
        // Exactly 366 days is allowed.
        assert!(
            run(r#"{"start_time":"2024-10-15T09:00:00Z","end_time":"2025-10-16T09:00:00Z"}"#)
                .is_ok()
        );
    }

    #[test]
    fn malformed_bodies_are_errors_not_automatic() {
        for body in [
            "{",
            "null",
            "[]",
            r#"{"start_time":"yesterday","end_time":"today"}"#,
            r#"{"start":"x"}"#,
            r#"{"start_time":1,"end_time":2}"#,
        ] {
            assert!(run(body).is_err(), "{body}");
        }
        assert_eq!(
            run(r#"{"start_time":"x","end_time":"2025-10-16T09:00:00Z"}"#)
                .unwrap_err()
                .field,
            "start_time"
        );
    }
}
