//! Scheduled tasks: what is exported (entity type), how often (interval), and where to
//! (job_config). Parsing and validation here are pure; the API layer adds the database.

pub(crate) mod handlers;
pub(crate) mod job_config;
pub(crate) mod output;
pub(crate) mod schedule;
pub(crate) mod scheduler;
pub(crate) mod storage;
pub(crate) mod window;

use serde_json::Value;

use crate::input::{InputError, Obj};
use crate::store::Audit;
pub(crate) use job_config::{JobConfig, JobConfigInput};

crate::names::named! {
    /// What a task exports.
    pub(crate) enum EntityType {
        Events = "events",
        Invoice = "invoice",
        CreditTopups = "credit_topups",
        CreditUsage = "credit_usage",
        UsageAnalytics = "usage_analytics",
    }
}

impl EntityType {
    /// The validation message for an unknown entity type (Flexprice's wording).
    pub(crate) fn expected() -> String {
        let names: Vec<_> = EntityType::ALL.iter().map(|e| e.as_str()).collect();
        format!("Entity type must be one of: {}", names.join(", "))
    }
}

crate::names::named! {
    /// How often a task exports; every window is aligned to UTC.
    pub(crate) enum Interval {
        Min15 = "15MIN",
        Min30 = "30MIN",
        Hourly = "hourly",
        Daily = "daily",
        /// Ten minutes; only when `scheduler.allow_test_intervals` is set.
        Custom = "custom",
    }
}

impl Interval {
    /// Parses an interval a request may ask for: `custom` only when test intervals are allowed.
    pub(crate) fn accepted(text: &str, allow_test_intervals: bool) -> Option<Interval> {
        Interval::parse(text).filter(|i| allow_test_intervals || *i != Interval::Custom)
    }

    /// The validation message for an interval that is not accepted.
    pub(crate) fn expected(allow_test_intervals: bool) -> String {
        let names: Vec<_> = Interval::ALL
            .iter()
            .filter(|i| allow_test_intervals || **i != Interval::Custom)
            .map(|i| i.as_str())
            .collect();
        format!("Interval must be one of: {}", names.join(", "))
    }

    /// Length of one window in milliseconds. UTC has no daylight saving, so a day is fixed.
    pub(crate) fn duration_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            Interval::Custom => 10 * MINUTE,
            Interval::Min15 => 15 * MINUTE,
            Interval::Min30 => 30 * MINUTE,
            Interval::Hourly => 60 * MINUTE,
            Interval::Daily => 24 * 60 * MINUTE,
        }
    }

    /// Start of the window that contains `ms` (windows are aligned to the Unix epoch, which is
    /// aligned to UTC midnight, so daily windows start at 00:00 UTC).
    pub(crate) fn floor_ms(self, ms: i64) -> i64 {
        ms - ms.rem_euclid(self.duration_ms())
    }
}

crate::names::named! {
    /// A task is `published` until deleted; a deleted task stays readable.
    pub(crate) enum TaskStatus {
        Published = "published",
        Deleted = "deleted",
    }
}

impl TaskStatus {}

/// A scheduled task as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduledTask {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub connection_id: String,
    pub entity_type: EntityType,
    pub interval: Interval,
    pub enabled: bool,
    pub job_config: JobConfig,
    pub status: TaskStatus,
    pub audit: Audit,
    /// Scheduler state (exportd extensions); empty until the scheduler has run the task.
    pub next_run_at: Option<i64>,
    pub last_run_at: Option<i64>,
    pub last_run_status: Option<String>,
    pub watermark: Option<i64>,
    /// Failed scheduled attempts of the current window in a row.
    pub consecutive_failures: i64,
    /// Why the scheduler paused the task, when it did.
    pub paused_reason: Option<String>,
}

impl ScheduledTask {
    /// A new published task of `owner` (tenant, environment), disabled, that has never run.
    pub(crate) fn new(
        id: String,
        (tenant_id, environment_id): (&str, &str),
        connection_id: String,
        (entity_type, interval): (EntityType, Interval),
        job_config: JobConfig,
        by: &str,
        now: i64,
    ) -> ScheduledTask {
        ScheduledTask {
            id,
            tenant_id: tenant_id.to_owned(),
            environment_id: environment_id.to_owned(),
            connection_id,
            entity_type,
            interval,
            enabled: false,
            job_config,
            status: TaskStatus::Published,
            audit: Audit::new(by, now),
            next_run_at: None,
            last_run_at: None,
            last_run_status: None,
            watermark: None,
            consecutive_failures: 0,
            paused_reason: None,
        }
    }
}

/// A validated create request, before the connection is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateTask {
    pub connection_id: String,
    pub entity_type: EntityType,
    pub interval: Interval,
    pub enabled: bool,
    pub job_config: JobConfigInput,
}

/// Longest id accepted in a request (ids exportd makes are about 34 characters).
pub(crate) const MAX_ID_CHARS: usize = 100;

/// Parses `POST /v1/tasks/scheduled`. Required fields are reported in Flexprice's order.
pub(crate) fn parse_create(
    body: &Value,
    allow_test_intervals: bool,
) -> Result<CreateTask, InputError> {
    let mut obj = Obj::root(body)?;
    let connection_id = obj.required_str("connection_id", MAX_ID_CHARS)?.to_owned();
    let entity = obj.required_str("entity_type", 64)?;
    let interval = obj.required_str("interval", 64)?;
    let job = obj.obj("job_config")?;
    let enabled = obj.bool("enabled")?.unwrap_or(false);

    let entity_type = EntityType::parse(entity)
        .ok_or_else(|| InputError::new("entity_type", EntityType::expected()))?;
    let interval = Interval::accepted(interval, allow_test_intervals)
        .ok_or_else(|| InputError::new("interval", Interval::expected(allow_test_intervals)))?;
    let Some(job) = job else {
        return Err(InputError::new("job_config", "job_config is required"));
    };
    let job_config = job_config::parse(job, entity_type)?;
    obj.finish()?;
    Ok(CreateTask {
        connection_id,
        entity_type,
        interval,
        enabled,
        job_config,
    })
}

/// Parses `PUT /v1/tasks/scheduled/{id}`: `{"enabled": bool}` and nothing else.
pub(crate) fn parse_update(body: &Value) -> Result<bool, InputError> {
    let mut obj = Obj::root(body)?;
    let enabled = obj.bool("enabled")?;
    obj.finish()?;
    enabled
        .ok_or_else(|| InputError::new("enabled", "Please provide enabled field (true or false)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_json;
    use serde_json::json;

    fn create(v: Value) -> Result<CreateTask, InputError> {
        parse_create(&v, false)
    }

    fn valid() -> Value {
        json!({"connection_id":"conn_1","entity_type":"events","interval":"hourly",
               "job_config":{"bucket":"exports","region":"us-east-1"}})
    }

    #[test]
    fn windows_align_to_utc_boundaries() {
        let ms = crate::clock::parse_rfc3339_ms("2025-10-16T10:40:12.5Z").expect("ts");
        let at = |i: Interval| crate::clock::rfc3339_ms(i.floor_ms(ms));
        assert_eq!(at(Interval::Hourly), "2025-10-16T10:00:00Z");
        assert_eq!(at(Interval::Min15), "2025-10-16T10:30:00Z");
        assert_eq!(at(Interval::Min30), "2025-10-16T10:30:00Z");
        assert_eq!(at(Interval::Custom), "2025-10-16T10:40:00Z");
        assert_eq!(at(Interval::Daily), "2025-10-16T00:00:00Z");
        // Before the epoch the floor still goes down, never up.
        assert_eq!(Interval::Hourly.floor_ms(-1), -3_600_000);
    }

    #[test]
    fn accepts_a_minimal_task_with_enabled_defaulting_to_false() {
        let task = create(valid()).expect("valid");
        assert_eq!(task.entity_type, EntityType::Events);
        assert_eq!(task.interval, Interval::Hourly);
        assert!(!task.enabled);
    }

    #[test]
    fn names_missing_required_fields_in_order() {
        for (field, msg) in [
            ("connection_id", "connection_id is required"),
            ("entity_type", "entity_type is required"),
            ("interval", "interval is required"),
            ("job_config", "job_config is required"),
        ] {
            let mut v = valid();
            v.as_object_mut().expect("object").remove(field);
            let err = create(v).unwrap_err();
            assert_eq!((err.field.as_str(), err.message.as_str()), (field, msg));
        }
    }

    #[test]
    fn rejects_unknown_enums_with_the_accepted_values() {
        let mut v = valid();
        v["interval"] = json!("weekly");
        assert_eq!(
            create(v).unwrap_err().message,
            "Interval must be one of: 15MIN, 30MIN, hourly, daily"
        );
        let mut v = valid();
        v["interval"] = json!("custom");
        assert_eq!(
            create(v.clone()).unwrap_err().message,
            "Interval must be one of: 15MIN, 30MIN, hourly, daily"
        );
        assert_eq!(
            parse_create(&v, true).expect("allowed").interval,
            Interval::Custom
        );
        let mut v = valid();
        v["entity_type"] = json!("Events");
        assert_eq!(
            create(v).unwrap_err().message,
            "Entity type must be one of: events, invoice, credit_topups, credit_usage, usage_analytics"
        );
    }

    #[test]
    fn rejects_unknown_and_mistyped_top_level_fields() {
        let mut v = valid();
        v["enabeld"] = json!(true);
        assert_eq!(
            create(v).unwrap_err().message,
            "enabeld is not a known field"
        );
        let mut v = valid();
        v["enabled"] = json!("true");
        assert_eq!(create(v).unwrap_err().field, "enabled");
    }

    #[test]
    fn update_needs_exactly_enabled() {
        let parse = |s: &str| parse_update(&parse_json(s.as_bytes()).expect("json"));
        assert_eq!(parse(r#"{"enabled":true}"#), Ok(true));
        assert_eq!(
            parse("{}").unwrap_err().message,
            "Please provide enabled field (true or false)"
        );
        assert_eq!(parse(r#"{"enabled":1}"#).unwrap_err().field, "enabled");
        assert_eq!(
            parse(r#"{"enabled":true,"interval":"daily"}"#)
                .unwrap_err()
                .message,
            "interval is not a known field"
        );
    }
}
