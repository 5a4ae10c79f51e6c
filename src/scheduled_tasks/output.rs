//! Where a task's files go, as a value that can be compared. Two tasks write the same object
//! key exactly when their output namespaces are equal: the key is
//! `<key_prefix>/<entity>/[dt=YYYY-MM-DD/]<entity>-<start>-<end>.csv[.gz]` in one store, so
//! the store, the prefix, the entity, the compression (the extension) and the layout must all
//! match. The interval is not part of it: hourly and daily files in one folder collide as soon
//! as a custom force-run window matches, and mixing them confuses whoever reads the folder.

use super::job_config::{Compression, JobConfig, KeyLayout, Provider};
use super::{EntityType, ScheduledTask};
use crate::sinks::endpoint::Origin;

/// The store that holds a task's objects: the operator's managed destination, or one bucket
/// at one endpoint (AWS when no endpoint is given). Credentials and region do not change
/// which objects a key names, so they are not part of it.
pub(crate) fn store_of(job: &JobConfig) -> String {
    match job.provider {
        Provider::Flexprice => format!("the managed destination (bucket {})", job.bucket),
        Provider::S3 => {
            let endpoint = match &job.endpoint_url {
                // Origins compare in one form (lower-case host, explicit port).
                Some(url) => Origin::parse(url)
                    .map(|o| o.display())
                    .unwrap_or_else(|_| url.clone()),
                None => "AWS S3".to_owned(),
            };
            format!("bucket {} at {endpoint}", job.bucket)
        }
    }
}

/// Everything that decides a task's object keys except the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    store: String,
    key_prefix: String,
    entity: EntityType,
    compression: Compression,
    layout: KeyLayout,
}

impl Namespace {
    pub(crate) fn of(entity: EntityType, job: &JobConfig) -> Namespace {
        Namespace {
            store: store_of(job),
            key_prefix: job.key_prefix.clone(),
            entity,
            compression: job.compression,
            layout: job.key_layout,
        }
    }

    /// For messages: `bucket b at https://s3.example.com:443, key_prefix "x", ...`.
    pub(crate) fn describe(&self) -> String {
        let compression = self.compression.as_str();
        let layout = match self.layout {
            KeyLayout::Flexprice => "flexprice",
            KeyLayout::Partitioned => "partitioned",
        };
        format!(
            "{}, key_prefix {:?}, entity {}, compression {compression}, key_layout {layout}",
            self.store,
            self.key_prefix,
            self.entity.as_str()
        )
    }
}

/// The first of `live` (other tasks, enabled and not deleted) that writes where a task of
/// `entity` with `job` would, unless either of the two opted in with `allow_shared_output`.
pub(crate) fn conflict<'a>(
    id: &str,
    entity: EntityType,
    job: &JobConfig,
    live: &'a [ScheduledTask],
) -> Option<&'a ScheduledTask> {
    if job.allow_shared_output {
        return None;
    }
    let mine = Namespace::of(entity, job);
    live.iter().find(|other| {
        other.id != id
            && !other.job_config.allow_shared_output
            && Namespace::of(other.entity_type, &other.job_config) == mine
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduled_tasks::Interval;
    use serde_json::json;

    /// A job_config with key_prefix `exports`, then `extra`'s fields.
    fn job(extra: serde_json::Value) -> JobConfig {
        let mut fields = json!({"key_prefix": "exports"});
        for (k, v) in extra.as_object().expect("object") {
            fields[k] = v.clone();
        }
        crate::scheduled_tasks::job_config::testing::job(fields)
    }

    /// A live (enabled) task.
    fn task(id: &str, entity: EntityType, job: JobConfig) -> ScheduledTask {
        let what = (entity, Interval::Hourly);
        let mut task =
            ScheduledTask::new(id.into(), ("t", "e"), "conn_1".into(), what, job, "k", 0);
        task.enabled = true;
        task
    }

    #[test]
    fn the_same_store_prefix_entity_compression_and_layout_conflict() {
        let live = [task("a", EntityType::Events, job(json!({})))];
        let found = conflict(
            "new",
            EntityType::Events,
            &job(json!({"region":"other"})),
            &live,
        );
        assert_eq!(found.map(|t| t.id.as_str()), Some("a"));
        // The same endpoint written another way is the same store.
        let live = [task(
            "a",
            EntityType::Events,
            job(json!({"endpoint_url":"http://MinIO.local:80"})),
        )];
        let same = job(json!({"endpoint_url":"http://minio.local/"}));
        assert!(conflict("new", EntityType::Events, &same, &live).is_some());
        // A task does not conflict with itself (resuming it).
        assert!(conflict("a", EntityType::Events, &same, &live).is_none());
    }

    #[test]
    fn any_difference_in_the_key_or_the_store_is_no_conflict() {
        let live = [task("a", EntityType::Events, job(json!({})))];
        for other in [
            json!({"key_prefix":"exports/b"}),
            json!({"bucket":"c"}),
            json!({"compression":"gzip"}),
            json!({"key_layout":"partitioned"}),
            json!({"endpoint_url":"https://s3.example.com"}),
            json!({"provider":"flexprice"}),
        ] {
            let j = job(other.clone());
            assert!(
                conflict("new", EntityType::Events, &j, &live).is_none(),
                "{other}"
            );
        }
        assert!(conflict("new", EntityType::Invoice, &job(json!({})), &live).is_none());
    }

    #[test]
    fn either_task_can_opt_in() {
        let live = [task("a", EntityType::Events, job(json!({})))];
        let opted = job(json!({"allow_shared_output": true}));
        assert!(conflict("new", EntityType::Events, &opted, &live).is_none());
        let live = [task("a", EntityType::Events, opted)];
        assert!(conflict("new", EntityType::Events, &job(json!({})), &live).is_none());
    }

    #[test]
    fn descriptions_name_every_part() {
        let ns = Namespace::of(
            EntityType::Events,
            &job(json!({"endpoint_url":"https://s3.example.com","compression":"gzip"})),
        );
        assert_eq!(
            ns.describe(),
            "bucket b at https://s3.example.com:443, key_prefix \"exports\", entity events, compression gzip, key_layout flexprice"
        );
        let managed = Namespace::of(EntityType::Invoice, &job(json!({"provider":"flexprice"})));
        assert!(
            managed
                .describe()
                .starts_with("the managed destination (bucket b)")
        );
    }
}
