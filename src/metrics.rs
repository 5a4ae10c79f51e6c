//! Prometheus metrics (SPEC 8): counters kept in memory since the process started, and gauges
//! read from the database when `/metrics` is scraped. Label values come only from fixed sets
//! (route patterns, statuses, entity types, task ids), never from raw client input, so a
//! hostile client cannot make the series unbounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the export duration histogram's buckets.
const DURATION_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// Upper bounds (seconds) of the HTTP request duration histogram's buckets.
const HTTP_BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    /// Observations at or below each bound (not cumulative here; summed when rendered).
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.buckets.len() != bounds.len() {
            self.buckets = vec![0; bounds.len()];
        }
        if let Some(i) = bounds.iter().position(|b| value <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += self.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

/// What one finished run adds to the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOutcome<'a> {
    pub entity_type: &'a str,
    /// `completed` or `failed`.
    pub status: &'static str,
    pub rows: u64,
    pub stored_bytes: u64,
    pub uncompressed_bytes: u64,
    pub seconds: f64,
}

#[derive(Default)]
struct Exports {
    runs: BTreeMap<(String, &'static str), u64>,
    rows: BTreeMap<String, u64>,
    stored_bytes: BTreeMap<String, u64>,
    csv_bytes: BTreeMap<String, u64>,
    duration: BTreeMap<(String, &'static str), Histogram>,
}

#[derive(Default)]
struct Http {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    duration: BTreeMap<&'static str, Histogram>,
}

/// The process's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    exports: Mutex<Exports>,
    http: Mutex<Http>,
    events_received: AtomicU64,
    events_stored: AtomicU64,
}

/// Gauges read from the database at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Gauges {
    /// now − the due time of the oldest due task (0 when none is due), seconds.
    pub scheduler_lag_seconds: f64,
    /// (task id, entity type, now − watermark in seconds) of every enabled task with a
    /// watermark.
    pub watermark_age: Vec<(String, String, f64)>,
    /// Scheduled tasks by (entity type, enabled).
    pub tasks: Vec<(String, bool, u64)>,
    /// Runs waiting for, or held by, an export worker.
    pub runs_in_flight: u64,
    /// Passes the scheduler loop has begun: a pass that begins after a change has seen it.
    pub scheduler_passes: u64,
}

/// The HTTP methods that get their own label value; anything else is `OTHER`.
pub(crate) fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a metrics lock leaves counters that are still valid numbers.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub(crate) fn http_request(
        &self,
        method: &str,
        route: &'static str,
        status: u16,
        seconds: f64,
    ) {
        let mut http = lock(&self.http);
        *http
            .requests
            .entry((method_label(method), route, status))
            .or_default() += 1;
        http.duration
            .entry(route)
            .or_default()
            .observe(&HTTP_BUCKETS, seconds);
    }

    pub(crate) fn run_finished(&self, run: RunOutcome<'_>) {
        let mut e = lock(&self.exports);
        let entity = run.entity_type.to_owned();
        *e.runs.entry((entity.clone(), run.status)).or_default() += 1;
        *e.rows.entry(entity.clone()).or_default() += run.rows;
        *e.stored_bytes.entry(entity.clone()).or_default() += run.stored_bytes;
        *e.csv_bytes.entry(entity.clone()).or_default() += run.uncompressed_bytes;
        e.duration
            .entry((entity, run.status))
            .or_default()
            .observe(&DURATION_BUCKETS, run.seconds);
    }

    /// `received` events accepted in one request, of which `stored` were new.
    pub(crate) fn events_ingested(&self, received: u64, stored: u64) {
        self.events_received.fetch_add(received, Ordering::Relaxed);
        self.events_stored.fetch_add(stored, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4) of every series.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        {
            let e = lock(&self.exports);
            help(
                &mut out,
                "exportd_runs_total",
                "counter",
                "Export runs finished since start, by entity type and status.",
            );
            for ((entity, status), n) in &e.runs {
                let _ = writeln!(
                    out,
                    "exportd_runs_total{{entity_type=\"{}\",status=\"{status}\"}} {n}",
                    label(entity)
                );
            }
            for (name, what, map) in [
                (
                    "exportd_exported_rows_total",
                    "Rows written by completed export runs.",
                    &e.rows,
                ),
                (
                    "exportd_exported_bytes_total",
                    "Bytes stored (after compression) by completed export runs.",
                    &e.stored_bytes,
                ),
                (
                    "exportd_exported_csv_bytes_total",
                    "CSV bytes (before compression) written by completed export runs.",
                    &e.csv_bytes,
                ),
            ] {
                help(&mut out, name, "counter", what);
                for (entity, n) in map {
                    let _ = writeln!(out, "{name}{{entity_type=\"{}\"}} {n}", label(entity));
                }
            }
            help(
                &mut out,
                "exportd_export_duration_seconds",
                "histogram",
                "Wall time of export runs, by entity type and status.",
            );
            for ((entity, status), h) in &e.duration {
                h.render(
                    &mut out,
                    "exportd_export_duration_seconds",
                    &format!("entity_type=\"{}\",status=\"{status}\"", label(entity)),
                    &DURATION_BUCKETS,
                );
            }
        }
        single(
            &mut out,
            "exportd_events_received_total",
            "counter",
            "Usage events accepted by /v1/events and /v1/events/bulk (202).",
            self.events_received.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "exportd_events_stored_total",
            "counter",
            "Accepted events that were new (a repeated event_id is accepted but stored once).",
            self.events_stored.load(Ordering::Relaxed),
        );
        {
            let http = lock(&self.http);
            help(
                &mut out,
                "exportd_http_requests_total",
                "counter",
                "HTTP requests answered, by method, route pattern and status.",
            );
            for ((method, route, status), n) in &http.requests {
                let _ = writeln!(
                    out,
                    "exportd_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
            help(
                &mut out,
                "exportd_http_request_duration_seconds",
                "histogram",
                "Time from reading a request to answering it, by route pattern.",
            );
            for (route, h) in &http.duration {
                h.render(
                    &mut out,
                    "exportd_http_request_duration_seconds",
                    &format!("route=\"{}\"", label(route)),
                    &HTTP_BUCKETS,
                );
            }
        }
        single(
            &mut out,
            "exportd_scheduler_lag_seconds",
            "gauge",
            "Now minus the due time of the oldest due scheduled window (0 when none is due).",
            gauges.scheduler_lag_seconds,
        );
        help(
            &mut out,
            "exportd_task_watermark_age_seconds",
            "gauge",
            "Now minus the end of the last window exported, per enabled task.",
        );
        for (task, entity, age) in &gauges.watermark_age {
            let _ = writeln!(
                out,
                "exportd_task_watermark_age_seconds{{task_id=\"{}\",entity_type=\"{}\"}} {age}",
                label(task),
                label(entity)
            );
        }
        help(
            &mut out,
            "exportd_scheduled_tasks",
            "gauge",
            "Scheduled tasks (not deleted), by entity type and whether enabled.",
        );
        for (entity, enabled, n) in &gauges.tasks {
            let _ = writeln!(
                out,
                "exportd_scheduled_tasks{{entity_type=\"{}\",enabled=\"{enabled}\"}} {n}",
                label(entity)
            );
        }
        single(
            &mut out,
            "exportd_runs_in_flight",
            "gauge",
            "Export runs pending or running.",
            gauges.runs_in_flight,
        );
        single(
            &mut out,
            "exportd_scheduler_passes_total",
            "counter",
            "Passes of the scheduler loop (each looks for due windows, jobs and retries).",
            gauges.scheduler_passes,
        );
        out
    }
}

/// A metric of one value and no labels.
fn single(out: &mut String, name: &str, kind: &str, text: &str, value: impl std::fmt::Display) {
    help(out, name, kind, text);
    let _ = writeln!(out, "{name} {value}");
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn counters_add_up_per_label_set() {
        let m = Metrics::default();
        let run = |status, rows| RunOutcome {
            entity_type: "events",
            status,
            rows,
            stored_bytes: 10,
            uncompressed_bytes: 40,
            seconds: 0.3,
        };
        m.run_finished(run("completed", 5));
        m.run_finished(run("completed", 7));
        m.run_finished(run("failed", 0));
        m.events_ingested(3, 2);
        m.http_request("GET", "/v1/tasks", 200, 0.002);
        m.http_request("BREW", "/v1/tasks", 405, 0.002);
        let text = m.render(&Gauges::default());
        assert_eq!(
            line(
                &text,
                "exportd_runs_total{entity_type=\"events\",status=\"completed\"}"
            ),
            Some("exportd_runs_total{entity_type=\"events\",status=\"completed\"} 2")
        );
        assert!(text.contains("exportd_runs_total{entity_type=\"events\",status=\"failed\"} 1"));
        assert!(text.contains("exportd_exported_rows_total{entity_type=\"events\"} 12"));
        assert!(text.contains("exportd_exported_bytes_total{entity_type=\"events\"} 30"));
        assert!(text.contains("exportd_events_received_total 3\n"));
        assert!(text.contains("exportd_events_stored_total 2\n"));
        assert!(text.contains(
            "exportd_http_requests_total{method=\"OTHER\",route=\"/v1/tasks\",status=\"405\"} 1"
        ));
        assert!(text.contains(
            "exportd_export_duration_seconds_bucket{entity_type=\"events\",status=\"completed\",le=\"0.25\"} 0"
        ));
        assert!(text.contains(
            "exportd_export_duration_seconds_bucket{entity_type=\"events\",status=\"completed\",le=\"0.5\"} 2"
        ));
        assert!(text.contains(
            "exportd_export_duration_seconds_count{entity_type=\"events\",status=\"completed\"} 2"
        ));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let mut h = Histogram::default();
        for v in [0.0005, 0.003, 0.003, 9.0] {
            h.observe(&HTTP_BUCKETS, v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "", &HTTP_BUCKETS);
        assert!(out.contains("x_bucket{le=\"0.001\"} 1\n"));
        assert!(out.contains("x_bucket{le=\"0.005\"} 3\n"));
        assert!(out.contains("x_bucket{le=\"2.5\"} 3\n"));
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"));
        assert!(out.contains("x_count 4\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_series_has_help_and_type() {
        let text = Metrics::default().render(&Gauges {
            scheduler_lag_seconds: 1.5,
            watermark_age: vec![("schtask_1".into(), "events".into(), 60.0)],
            tasks: vec![("events".into(), true, 1)],
            runs_in_flight: 0,
            scheduler_passes: 0,
        });
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap_or_default();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {base} ")),
                "no TYPE for {name}"
            );
            assert!(name.starts_with("exportd_"), "{name}");
        }
        assert!(text.contains("exportd_scheduler_lag_seconds 1.5\n"));
        assert!(text.contains(
            "exportd_task_watermark_age_seconds{task_id=\"schtask_1\",entity_type=\"events\"} 60"
        ));
    }
}
