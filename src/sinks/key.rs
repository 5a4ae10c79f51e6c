//! Object keys (SPEC 6.2): `<prefix>/<entity>/<entity>-<YYMMDDHHMMSS>-<YYMMDDHHMMSS>.<ext>`
//! (`csv`, `csv.gz`, `csv.zst` or `parquet`),
//! Flexprice's layout, optionally with a Hive-style `dt=YYYY-MM-DD/` partition. The key is a
//! function of the job_config's prefix, format, compression and layout, the entity and the window
//! only: a retry replaces the same object, and so would another task with the same output
//! namespace (which the API refuses, see `tasks::output`).

use crate::formats::time::{compact_stamp, date};
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::{Compression, Format, JobConfig, KeyLayout};

pub(crate) fn object_key(job: &JobConfig, entity: EntityType, start: i64, end: i64) -> String {
    let e = entity.as_str();
    let ext = extension(job);
    let mut key = String::new();
    if !job.key_prefix.is_empty() {
        key.push_str(&job.key_prefix);
        key.push('/');
    }
    key.push_str(e);
    key.push('/');
    if job.key_layout == KeyLayout::Partitioned {
        key.push_str(&format!("dt={}/", date(start)));
    }
    key.push_str(&format!(
        "{e}-{}-{}.{ext}",
        compact_stamp(start),
        compact_stamp(end)
    ));
    key
}

/// The manifest written next to a data object.
pub(crate) fn manifest_key(object_key: &str) -> String {
    format!("{object_key}.manifest.json")
}

/// The file name's extension: the format, and the compression around a CSV. (A Parquet
/// file compresses inside, so its compression does not show.)
pub(crate) fn extension(job: &JobConfig) -> &'static str {
    kind(job.format, job.compression).0
}

/// A file's extension and content type.
fn kind(format: Format, compression: Compression) -> (&'static str, &'static str) {
    match (format, compression) {
        (Format::Parquet, _) => ("parquet", "application/vnd.apache.parquet"),
        (Format::Csv, Compression::Gzip) => ("csv.gz", "application/gzip"),
        (Format::Csv, Compression::Zstd) => ("csv.zst", "application/zstd"),
        // snappy is refused for CSV when a task is made.
        (Format::Csv, Compression::None | Compression::Snappy) => {
            ("csv", "text/csv; charset=utf-8")
        }
    }
}

pub(crate) fn content_type(job: &JobConfig) -> &'static str {
    kind(job.format, job.compression).1
}

/// The content type of a stored object, told by its key's extension.
pub(crate) fn content_type_of_key(key: &str) -> &'static str {
    [
        (Format::Parquet, Compression::Zstd),
        (Format::Csv, Compression::Gzip),
        (Format::Csv, Compression::Zstd),
    ]
    .into_iter()
    .map(|(f, c)| kind(f, c))
    .find(|(ext, _)| key.ends_with(&format!(".{ext}")))
    .map_or(kind(Format::Csv, Compression::None).1, |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339_ms;
    use crate::scheduled_tasks::job_config::testing::job;
    use serde_json::json;

    #[test]
    fn flexprice_layout_with_and_without_prefix() {
        let (s, e) = (
            parse_rfc3339_ms("2025-10-16T10:00:00Z").unwrap(),
            parse_rfc3339_ms("2025-10-16T11:00:00Z").unwrap(),
        );
        assert_eq!(
            object_key(&job(json!({})), EntityType::Events, s, e),
            "events/events-251016100000-251016110000.csv"
        );
        assert_eq!(
            object_key(
                &job(json!({"key_prefix":"flexprice-exports","compression":"gzip"})),
                EntityType::Invoice,
                s,
                e
            ),
            "flexprice-exports/invoice/invoice-251016100000-251016110000.csv.gz"
        );
        assert_eq!(
            object_key(
                &job(json!({"key_prefix":"a/b","key_layout":"partitioned"})),
                EntityType::CreditTopups,
                s,
                e
            ),
            "a/b/credit_topups/dt=2025-10-16/credit_topups-251016100000-251016110000.csv"
        );
        assert_eq!(manifest_key("x/y.csv"), "x/y.csv.manifest.json");
        let zstd = object_key(
            &job(json!({"compression":"zstd"})),
            EntityType::Events,
            s,
            e,
        );
        assert_eq!(zstd, "events/events-251016100000-251016110000.csv.zst");
        for config in [
            json!({}),
            json!({"compression": "gzip"}),
            json!({"compression": "zstd"}),
            json!({"format": "parquet", "compression": "zstd"}),
            json!({"format": "parquet", "compression": "snappy"}),
            json!({"format": "parquet", "compression": "none"}),
        ] {
            let job = job(config);
            let key = object_key(&job, EntityType::Invoice, s, e);
            assert_eq!(content_type_of_key(&key), content_type(&job), "{key}");
        }
        let parquet = job(json!({"format": "parquet", "compression": "snappy"}));
        assert_eq!(
            object_key(&parquet, EntityType::Events, s, e),
            "events/events-251016100000-251016110000.parquet"
        );
        assert_eq!(content_type(&parquet), "application/vnd.apache.parquet");
        assert_eq!(
            content_type(&job(json!({"compression": "zstd"}))),
            "application/zstd"
        );
    }
}
