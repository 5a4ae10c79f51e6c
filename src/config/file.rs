//! The config file's shape, section by section, with the embedded defaults: every key has
//! one, so a file that sets one key of a section keeps the defaults of the others.

use serde::{Deserialize, Serialize};

use crate::webhooks::EventType;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileConfig {
    pub(crate) server: ServerFile,
    pub(crate) storage: StorageFile,
    pub(crate) auth: AuthFile,
    pub(crate) secrets: SecretsFile,
    pub(crate) scheduler: SchedulerFile,
    pub(crate) s3: S3File,
    pub(crate) managed_destination: ManagedFile,
    pub(crate) log: LogFile,
    pub(crate) meters: Vec<MeterFile>,
    pub(crate) billing: BillingFile,
    pub(crate) webhooks: Vec<WebhookFile>,
    pub(crate) webhook_delivery: WebhookDeliveryFile,
    pub(crate) source: crate::sources::SourceFile,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebhookFile {
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) secret_env: String,
    pub(crate) events: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebhookDeliveryFile {
    pub(crate) timeout: String,
    pub(crate) retry_base: String,
    pub(crate) retry_cap: String,
    pub(crate) max_age: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MeterFile {
    pub(crate) id: String,
    pub(crate) event_name: String,
    pub(crate) aggregation: String,
    pub(crate) field: String,
    pub(crate) feature_id: String,
    pub(crate) feature_name: String,
    pub(crate) feature_group_name: String,
    /// A decimal in quotes: a TOML float would already be binary floating point.
    pub(crate) unit_price: Option<toml::Value>,
    pub(crate) currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerFile {
    pub(crate) listen: String,
    pub(crate) threads: i64,
    pub(crate) max_body_bytes: i64,
    pub(crate) public_url: String,
    pub(crate) max_connections: i64,
    pub(crate) max_header_bytes: i64,
    pub(crate) header_timeout: String,
    pub(crate) body_timeout: String,
    pub(crate) idle_timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StorageFile {
    pub(crate) data_dir: String,
    pub(crate) database: String,
    pub(crate) max_wal_bytes: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthFile {
    pub(crate) keys: Vec<KeyFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct KeyFile {
    pub(crate) name: String,
    pub(crate) tenant_id: String,
    pub(crate) environment_id: String,
    pub(crate) key_sha256: String,
    pub(crate) key_env: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SecretsFile {
    pub(crate) encryption_key: String,
    pub(crate) key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SchedulerFile {
    pub(crate) delay: String,
    pub(crate) workers: i64,
    pub(crate) retry_base: String,
    pub(crate) retry_cap: String,
    pub(crate) max_consecutive_failures: i64,
    pub(crate) shutdown_timeout: String,
    pub(crate) allow_test_intervals: bool,
    pub(crate) test_clock: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct S3File {
    pub(crate) allowed_endpoints: Vec<String>,
    pub(crate) part_size: i64,
    pub(crate) request_timeout: String,
    pub(crate) retries: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ManagedFile {
    pub(crate) kind: String,
    pub(crate) path: String,
    pub(crate) bucket: String,
    pub(crate) region: String,
    pub(crate) endpoint_url: String,
    pub(crate) use_path_style: bool,
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogFile {
    pub(crate) level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BillingFile {
    pub(crate) finalization_delay: String,
}

// Each section has its own defaults, so a file that sets one key of a section keeps the
// embedded defaults of the others.

impl Default for ServerFile {
    fn default() -> Self {
        ServerFile {
            listen: "127.0.0.1:8080".into(),
            threads: 8,
            max_body_bytes: 10 * 1024 * 1024,
            public_url: String::new(),
            max_connections: 256,
            max_header_bytes: 16 * 1024,
            header_timeout: "10s".into(),
            body_timeout: "30s".into(),
            idle_timeout: "30s".into(),
        }
    }
}

impl Default for StorageFile {
    fn default() -> Self {
        StorageFile {
            data_dir: "data".into(),
            database: "exportd.db".into(),
            max_wal_bytes: crate::store::DEFAULT_WAL_LIMIT as i64,
        }
    }
}

impl Default for SchedulerFile {
    fn default() -> Self {
        SchedulerFile {
            delay: "15m".into(),
            workers: 2,
            retry_base: "30s".into(),
            retry_cap: "30m".into(),
            max_consecutive_failures: 20,
            shutdown_timeout: "30s".into(),
            allow_test_intervals: false,
            test_clock: String::new(),
        }
    }
}

impl Default for S3File {
    fn default() -> Self {
        S3File {
            allowed_endpoints: Vec::new(),
            part_size: 8 * 1024 * 1024,
            request_timeout: "60s".into(),
            retries: 1,
        }
    }
}

impl Default for SecretsFile {
    fn default() -> Self {
        SecretsFile {
            encryption_key: String::new(),
            key_file: "secret.key".into(),
        }
    }
}

impl Default for ManagedFile {
    fn default() -> Self {
        ManagedFile {
            kind: "directory".into(),
            path: "exports".into(),
            bucket: "exportd-managed".into(),
            region: "us-east-1".into(),
            endpoint_url: String::new(),
            use_path_style: true,
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
        }
    }
}

impl Default for LogFile {
    fn default() -> Self {
        LogFile {
            level: "info".into(),
        }
    }
}

impl Default for WebhookFile {
    fn default() -> Self {
        WebhookFile {
            url: String::new(),
            secret: String::new(),
            secret_env: String::new(),
            events: EventType::ALL
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
        }
    }
}

impl Default for WebhookDeliveryFile {
    fn default() -> Self {
        WebhookDeliveryFile {
            timeout: "10s".into(),
            retry_base: "1s".into(),
            retry_cap: "10m".into(),
            max_age: "24h".into(),
        }
    }
}

impl Default for BillingFile {
    fn default() -> Self {
        BillingFile {
            finalization_delay: "1h".into(),
        }
    }
}
