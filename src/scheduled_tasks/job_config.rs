//! `job_config` (Flexprice's S3JobConfig plus exportd's extensions): parsing, validation, and
//! the defaults that the API echoes back.

use serde::{Deserialize, Serialize};

use super::EntityType;
use crate::input::{InputError, Invalid, Obj, check_text};
use crate::sinks::s3::check_bucket_name;

crate::names::named! {
    pub(crate) enum Compression {
        None = "none",
        Gzip = "gzip",
        /// exportd extension: `.csv.zst`, or zstd pages inside a Parquet file.
        Zstd = "zstd",
        /// exportd extension, Parquet only: snappy pages inside the file.
        Snappy = "snappy",
    }
}

crate::names::named! {
    /// exportd extension: the file format. `parquet` compresses inside the file.
    pub(crate) enum Format {
        Csv = "csv",
        Parquet = "parquet",
    }
}

/// Tasks stored before `format` existed are CSV.
impl Default for Format {
    fn default() -> Format {
        Format::Csv
    }
}

impl Compression {
    /// The levels this codec takes, and its default (gzip's 6, zstd's 3). `none` keeps
    /// gzip's range, as before zstd, so that a level set for later stays valid.
    pub(crate) fn levels(self) -> (std::ops::RangeInclusive<u8>, u8) {
        match self {
            // snappy has no levels: like none, it keeps gzip's range and ignores the level.
            Compression::None | Compression::Gzip | Compression::Snappy => {
                (1..=9, DEFAULT_COMPRESSION_LEVEL)
            }
            // 20-22 ("ultra") need windows of up to 128 MiB: not for a bounded-memory daemon.
            Compression::Zstd => (1..=19, 3),
        }
    }
}

crate::names::named! {
    pub(crate) enum Encryption {
        Aes256 = "AES256",
        AwsKms = "aws:kms",
        AwsKmsDsse = "aws:kms:dsse",
        /// exportd extension: send no SSE header (for stores that reject it).
        None = "none",
    }
}

crate::names::named! {
    /// Object key layout: Flexprice's flat layout, or Hive-style `dt=YYYY-MM-DD/` partitions.
    pub(crate) enum KeyLayout {
        Flexprice = "flexprice",
        Partitioned = "partitioned",
    }
}

crate::names::named! {
    /// Which timestamp places a row in a window (SPEC 5.2).
    pub enum WindowField {
        IngestedAt = "ingested_at",
        Timestamp = "timestamp",
        UpdatedAt = "updated_at",
        CreatedAt = "created_at",
    }
}

crate::names::named! {
    /// `s3` writes to the task's own bucket; `flexprice` to the operator's managed destination.
    pub(crate) enum Provider {
        S3 = "s3",
        Flexprice = "flexprice",
    }
}

crate::names::named! {
    pub enum MetadataEntity {
        Customer = "customer",
        Wallet = "wallet",
    }
}

/// An extra CSV column filled from customer or wallet metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataField {
    pub entity_type: MetadataEntity,
    pub field_key: String,
    pub column_name: String,
}

/// A task's destination and file settings, with every default filled in. This is both the
/// stored form and what the API echoes. Every field is always written, unset ones as `null`:
/// the JavaScript SDK (with zod 4.5 or later) refuses a response whose optional field is
/// absent, while both SDKs read `null` as unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobConfig {
    pub bucket: String,
    pub region: String,
    #[serde(default, with = "empty_is_null")]
    pub key_prefix: String,
    #[serde(default)]
    pub format: Format,
    pub compression: Compression,
    pub compression_level: u8,
    pub encryption: Encryption,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    pub use_path_style: bool,
    #[serde(default)]
    pub export_metadata_fields: Vec<MetadataField>,
    pub write_manifest: bool,
    pub skip_empty: bool,
    pub key_layout: KeyLayout,
    #[serde(default)]
    pub window_field: Option<WindowField>,
    pub provider: Provider,
    /// The explicit opt-in that lets this task write where another live task writes
    /// (see [`super::output::Namespace`]); false refuses such a task with a 409.
    #[serde(default)]
    pub allow_shared_output: bool,
}

/// A text field whose empty value is written as `null` (an unset optional field, as the SDKs
/// model it), and read back from `null` or absence: `#[serde(default, with = "empty_is_null")]`.
pub(crate) mod empty_is_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_empty() {
            serializer.serialize_none()
        } else {
            serializer.serialize_str(value)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<String, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
    }
}

/// A parsed and checked job_config whose bucket and region may still be missing: a task on a
/// managed connection gets them from the operator's config, so they are only required once the
/// connection is known ([`JobConfigInput::resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobConfigInput {
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub config: JobConfig,
}

/// The managed destination a task on a managed connection writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagedTarget {
    pub bucket: String,
    pub region: String,
    /// `<tenant_id>/<environment_id>`: every managed object lives under it.
    pub key_prefix: String,
}

pub(crate) const DEFAULT_COMPRESSION_LEVEL: u8 = 6;
const MAX_METADATA_FIELDS: usize = 50;
const MAX_PREFIX_CHARS: usize = 512;

/// Reads and checks a `job_config` object for a task exporting `entity`.
pub(crate) fn parse(mut obj: Obj<'_>, entity: EntityType) -> Result<JobConfigInput, InputError> {
    let field = |k: &str| format!("job_config.{k}");

    let bucket = obj.str("bucket", 255)?.map(str::to_owned);
    let region = obj.str("region", 255)?.map(str::to_owned);
    let key_prefix = normalize_prefix(obj.str("key_prefix", MAX_PREFIX_CHARS)?.unwrap_or(""))
        .map_err(|why| {
            InputError::new(field("key_prefix"), format!("job_config.key_prefix {why}"))
        })?;

    let format = match nonempty(obj.str("format", 64)?) {
        None => Format::Csv,
        Some(name) => Format::parse(name).ok_or_else(|| {
            InputError::new(
                field("format"),
                format!("job_config.format must be one of: {}", Format::names()),
            )
        })?,
    };
    let compression = parse_codec(&mut obj, format)?;
    let compression_level = parse_level(&mut obj, compression, format)?;
    let encryption = parse_encryption(&mut obj, "encryption")?;
    let kms_key_id = nonempty(obj.str("kms_key_id", 2048)?).map(str::to_owned);
    if kms_key_id
        .as_deref()
        .is_some_and(|id| !id.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(InputError::new(
            field("kms_key_id"),
            "job_config.kms_key_id must be a key id, ARN or alias without spaces (printable ASCII)",
        ));
    }
    if kms_key_id.is_some() && !matches!(encryption, Encryption::AwsKms | Encryption::AwsKmsDsse) {
        return Err(InputError::new(
            field("kms_key_id"),
            "job_config.kms_key_id needs encryption aws:kms or aws:kms:dsse",
        ));
    }
    let endpoint_url = nonempty(obj.str("endpoint_url", 2048)?).map(|s| s.trim().to_owned());
    let use_path_style = obj.bool("use_path_style")?.unwrap_or(false);
    let metadata_items = obj.obj_array("export_metadata_fields", MAX_METADATA_FIELDS)?;
    let export_metadata_fields = parse_metadata_fields(metadata_items, entity)?;
    let write_manifest = obj.bool("write_manifest")?.unwrap_or(false);
    let skip_empty = obj.bool("skip_empty")?.unwrap_or(false);
    let key_layout = match nonempty(obj.str("key_layout", 64)?) {
        None | Some("flexprice") => KeyLayout::Flexprice,
        Some("partitioned") => KeyLayout::Partitioned,
        Some(_) => {
            return Err(InputError::new(
                field("key_layout"),
                "job_config.key_layout must be one of: flexprice, partitioned",
            ));
        }
    };
    let window_field = parse_window_field(nonempty(obj.str("window_field", 64)?), entity)?;
    let allow_shared_output = obj.bool("allow_shared_output")?.unwrap_or(false);
    let provider = match nonempty(obj.str("provider", 64)?) {
        None | Some("s3") => Provider::S3,
        Some("flexprice") => Provider::Flexprice,
        Some(other) => {
            return Err(InputError::new(
                field("provider"),
                format!(
                    "job_config.provider must be s3 or flexprice, not {other:?}: exportd writes to S3-compatible storage only"
                ),
            ));
        }
    };
    obj.finish()?;

    if let Some(b) = nonempty(bucket.as_deref()) {
        check_bucket_name(b).map_err(|why| InputError::new(field("bucket"), why))?;
    }
    if let Some(r) = nonempty(region.as_deref())
        && r.chars().any(char::is_whitespace)
    {
        return Err(InputError::new(
            field("region"),
            "AWS region must not contain spaces",
        ));
    }
    Ok(JobConfigInput {
        bucket: nonempty(bucket.as_deref()).map(str::to_owned),
        region: nonempty(region.as_deref()).map(str::to_owned),
        config: JobConfig {
            bucket: String::new(),
            region: String::new(),
            key_prefix,
            format,
            compression,
            compression_level,
            encryption,
            kms_key_id,
            endpoint_url,
            use_path_style,
            export_metadata_fields,
            write_manifest,
            skip_empty,
            key_layout,
            window_field,
            provider,
            allow_shared_output,
        },
    })
}

impl JobConfigInput {
    /// Completes the config once the connection is known. A customer bucket needs `bucket` and
    /// `region`; a managed connection (or `provider: flexprice`) takes them from the operator's
    /// managed destination, puts the key under `<tenant>/<environment>`, and ignores the
    /// endpoint settings, as Flexprice does.
    pub(crate) fn resolve(self, managed: Option<&ManagedTarget>) -> Result<JobConfig, InputError> {
        let mut config = self.config;
        match managed {
            Some(target) => {
                config.bucket = target.bucket.clone();
                config.region = target.region.clone();
                config.key_prefix = if config.key_prefix.is_empty() {
                    target.key_prefix.clone()
                } else {
                    format!("{}/{}", target.key_prefix, config.key_prefix)
                };
                config.endpoint_url = None;
                config.use_path_style = false;
                config.provider = Provider::Flexprice;
            }
            None => {
                if config.provider == Provider::Flexprice {
                    return Err(InputError::new(
                        "job_config.provider",
                        "job_config.provider flexprice needs a managed connection (sync_config.s3.is_flexprice_managed)",
                    ));
                }
                config.bucket = self.bucket.ok_or_else(|| {
                    InputError::new("job_config.bucket", "S3 bucket name is required")
                })?;
                config.region = self.region.ok_or_else(|| {
                    InputError::new("job_config.region", "AWS region is required")
                })?;
            }
        }
        Ok(config)
    }
}

/// Reads a `compression` field (absent or empty = `none`), with Flexprice's message.
pub(crate) fn parse_compression<'a>(
    obj: &mut Obj<'a>,
    key: &'a str,
) -> Result<Compression, InputError> {
    match nonempty(obj.str(key, 64)?) {
        None | Some("none") => Ok(Compression::None),
        Some("gzip") => Ok(Compression::Gzip),
        Some("zstd") => Ok(Compression::Zstd),
        Some(_) => Err(InputError::new(
            obj.field(key),
            "Compression type must be one of: none, gzip, zstd",
        )),
    }
}

/// Reads a task's `compression` for its format. CSV takes Flexprice's codecs (absent = `none`);
/// Parquet compresses inside the file: zstd (the default), snappy or none.
fn parse_codec(obj: &mut Obj<'_>, format: Format) -> Result<Compression, InputError> {
    let given = nonempty(obj.str("compression", 64)?);
    let refused = |message: String| InputError::new("job_config.compression", message);
    match (format, given) {
        (Format::Csv, Some("snappy")) => Err(refused(
            "job_config.compression snappy is only for format parquet; CSV takes none, gzip or zstd"
                .into(),
        )),
        (Format::Csv, _) => parse_compression(obj, "compression"),
        (Format::Parquet, None | Some("zstd")) => Ok(Compression::Zstd),
        (Format::Parquet, Some("snappy")) => Ok(Compression::Snappy),
        (Format::Parquet, Some("none")) => Ok(Compression::None),
        (Format::Parquet, Some("gzip")) => Err(refused(
            "job_config.compression gzip is not available with format parquet: Parquet compresses inside the file with zstd (the default), snappy or none".into(),
        )),
        (Format::Parquet, Some(_)) => Err(refused(
            "job_config.compression must be one of: zstd, snappy, none for format parquet".into(),
        )),
    }
}

/// Reads `compression_level`, checked against the codec's range; the message names the codec.
fn parse_level(
    obj: &mut Obj<'_>,
    compression: Compression,
    format: Format,
) -> Result<u8, InputError> {
    let (range, default) = compression.levels();
    // zstd inside Parquet defaults to level 1, as Apache Arrow's writers do: on billing rows
    // (random ids, JSON) it made smaller files than levels 2-4, and faster (see the README).
    let default = match (format, compression) {
        (Format::Parquet, Compression::Zstd) => 1,
        _ => default,
    };
    let (min, max) = (*range.start(), *range.end());
    let level = obj
        .int("compression_level", i64::from(min), i64::from(max))
        .map_err(|mut e| {
            let out_of_range =
                format!("job_config.compression_level must be a whole number from {min} to {max}");
            if e.message == out_of_range && compression != Compression::None {
                e.message = format!("{out_of_range} for {} compression", compression.as_str());
            }
            e
        })?;
    Ok(level.map_or(default, |l| l as u8))
}

/// Reads an `encryption` field (absent or empty = `AES256`), with Flexprice's message.
pub(crate) fn parse_encryption<'a>(
    obj: &mut Obj<'a>,
    key: &'a str,
) -> Result<Encryption, InputError> {
    match nonempty(obj.str(key, 64)?) {
        None | Some("AES256") => Ok(Encryption::Aes256),
        Some("aws:kms") => Ok(Encryption::AwsKms),
        Some("aws:kms:dsse") => Ok(Encryption::AwsKmsDsse),
        Some("none") => Ok(Encryption::None),
        Some(_) => Err(InputError::new(
            obj.field(key),
            "Encryption type must be one of: AES256, aws:kms, aws:kms:dsse, none",
        )),
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

fn parse_window_field(
    value: Option<&str>,
    entity: EntityType,
) -> Result<Option<WindowField>, InputError> {
    use WindowField::*;
    let (allowed, default): (&[WindowField], Option<WindowField>) = match entity {
        EntityType::Events | EntityType::UsageAnalytics => {
            (&[IngestedAt, Timestamp], Some(IngestedAt))
        }
        EntityType::Invoice => (&[UpdatedAt, CreatedAt], Some(UpdatedAt)),
        // updated_at: when Flexprice completed a transaction created pending (the embedded
        // ledger's transactions are complete when written: the same as created_at there).
        EntityType::CreditTopups => (&[CreatedAt, UpdatedAt], Some(CreatedAt)),
        EntityType::CreditUsage => (&[], None),
    };
    let Some(value) = value else {
        return Ok(default);
    };
    let names: Vec<String> = allowed
        .iter()
        .map(|w| {
            serde_json::to_value(w)
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .unwrap_or_default()
        })
        .collect();
    if let Some(i) = names.iter().position(|n| n == value) {
        return Ok(Some(allowed[i]));
    }
    let message = if allowed.is_empty() {
        format!(
            "job_config.window_field does not apply to {} exports (a balance snapshot at the window end)",
            entity.as_str()
        )
    } else {
        format!(
            "job_config.window_field for {} exports must be one of: {}",
            entity.as_str(),
            names.join(", ")
        )
    };
    Err(InputError::new("job_config.window_field", message))
}

fn parse_metadata_fields(
    items: Vec<Obj<'_>>,
    entity: EntityType,
) -> Result<Vec<MetadataField>, InputError> {
    let allowed: &[MetadataEntity] = match entity {
        EntityType::CreditUsage => &[MetadataEntity::Customer, MetadataEntity::Wallet],
        EntityType::UsageAnalytics => &[MetadataEntity::Customer],
        _ => &[],
    };
    if !items.is_empty() && allowed.is_empty() {
        return Err(InputError::new(
            "job_config.export_metadata_fields",
            format!(
                "job_config.export_metadata_fields is not supported for {} exports (only credit_usage and usage_analytics)",
                entity.as_str()
            ),
        ));
    }
    let mut out: Vec<MetadataField> = Vec::with_capacity(items.len());
    for (i, mut item) in items.into_iter().enumerate() {
        let at = format!("job_config.export_metadata_fields[{i}]");
        let entity_type = item.str("entity_type", 64)?;
        let field_key = item.str("field_key", 255)?;
        let column_name = item.str("column_name", 255)?;
        item.finish()?;
        let entity_type = match nonempty(entity_type) {
            None => {
                return Err(InputError::new(
                    format!("{at}.entity_type"),
                    format!("export_metadata_fields[{i}] is missing entity_type"),
                ));
            }
            Some("customer") => MetadataEntity::Customer,
            Some("wallet") => MetadataEntity::Wallet,
            Some(_) => {
                return Err(InputError::new(
                    format!("{at}.entity_type"),
                    format!("{at}.entity_type must be one of: customer, wallet"),
                ));
            }
        };
        if !allowed.contains(&entity_type) {
            return Err(InputError::new(
                format!("{at}.entity_type"),
                format!(
                    "{at}.entity_type wallet is not supported for {} exports (allowed: customer)",
                    entity.as_str()
                ),
            ));
        }
        let Some(field_key) = nonempty(field_key) else {
            return Err(InputError::new(
                format!("{at}.field_key"),
                format!("export_metadata_fields[{i}] is missing field_key"),
            ));
        };
        let column_name = nonempty(column_name).unwrap_or(field_key);
        if out.iter().any(|f| f.column_name == column_name) {
            return Err(InputError::new(
                format!("{at}.column_name"),
                format!(
                    "{at}.column_name {column_name:?} is already used by another metadata column"
                ),
            ));
        }
        out.push(MetadataField {
            entity_type,
            field_key: field_key.to_owned(),
            column_name: column_name.to_owned(),
        });
    }
    Ok(out)
}

/// Normalises a key prefix: no leading or trailing slash, no empty segments. `.` and `..`
/// segments are refused so a key can never climb out of its prefix (or a directory root).
pub(crate) fn normalize_prefix(prefix: &str) -> Result<String, Invalid> {
    let mut segments = Vec::new();
    for segment in prefix.split('/') {
        match segment {
            "" => continue,
            "." | ".." => {
                return Err(Invalid::from(
                    "must not contain . or .. segments".to_owned(),
                ));
            }
            s if s.trim() != s => {
                return Err(Invalid::from(
                    "segments must not start or end with spaces".to_owned(),
                ));
            }
            s => segments.push(s),
        }
    }
    let joined = segments.join("/");
    check_text("prefix", &joined, MAX_PREFIX_CHARS)
        .map_err(|_| "must not contain control characters".to_owned())?;
    if joined.contains('\\') {
        return Err(Invalid::from("must not contain backslashes".to_owned()));
    }
    Ok(joined)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::JobConfig;

    /// A complete S3 job_config (bucket `b`, region `r`, the defaults), then `extra`'s fields.
    pub(crate) fn job(extra: serde_json::Value) -> JobConfig {
        let mut base = serde_json::json!({"bucket":"b","region":"r","compression":"none",
            "compression_level":6,"encryption":"AES256","use_path_style":false,
            "write_manifest":false,"skip_empty":false,"key_layout":"flexprice","provider":"s3"});
        for (k, v) in extra.as_object().expect("an object of fields") {
            base[k] = v.clone();
        }
        serde_json::from_value(base).expect("a valid job_config")
    }
}

#[cfg(test)]
mod tests;
