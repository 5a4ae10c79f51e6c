//! Object keys (SPEC 6.2): `<prefix>/<entity>/<entity>-<YYMMDDHHMMSS>-<YYMMDDHHMMSS>.csv[.gz|.zst]`,
//! Flexprice's layout, optionally with a Hive-style `dt=YYYY-MM-DD/` partition. The key is a
//! function of the job_config's prefix, compression and layout, the entity and the window
//! only: a retry replaces the same object, and so would another task with the same output
//! namespace (which the API refuses, see `tasks::output`).

use crate::formats::time::{compact_stamp, date};
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::{Compression, JobConfig, KeyLayout};

pub(crate) fn object_key(job: &JobConfig, entity: EntityType, start: i64, end: i64) -> String {
    let e = entity.as_str();
    let ext = extension(job.compression);
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

fn extension(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "csv",
        Compression::Gzip => "csv.gz",
        Compression::Zstd => "csv.zst",
    }
}

pub(crate) fn content_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "text/csv; charset=utf-8",
        Compression::Gzip => "application/gzip",
        Compression::Zstd => "application/zstd",
    }
}

/// The compression of a stored object, told by its key's extension.
pub(crate) fn compression_of_key(key: &str) -> Compression {
    [Compression::Gzip, Compression::Zstd]
        .into_iter()
        .find(|c| key.ends_with(extension(*c)))
        .unwrap_or(Compression::None)
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
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let key = object_key(&job(json!({"compression": c})), EntityType::Invoice, s, e);
            assert_eq!(compression_of_key(&key), c, "{key}");
        }
        assert_eq!(content_type(Compression::Zstd), "application/zstd");
    }
}
