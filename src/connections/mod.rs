//! Connections: S3 credentials (encrypted at rest) and optional sync settings, or a pointer to
//! the operator's managed destination. Parsing here is pure; sealing uses [`SecretBox`].

pub(crate) mod handlers;
pub(crate) mod storage;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::{InputError, Obj};
use crate::scheduled_tasks::job_config::{
    Compression, Encryption, empty_is_null, normalize_prefix, parse_compression, parse_encryption,
};
use crate::secrets::{SecretBox, SecretError};
use crate::sinks::s3::check_bucket_name;
use crate::store::Audit;

/// Flexprice's only export provider, and exportd's only one.
pub(crate) const PROVIDER_S3: &str = "s3";

crate::names::named! {
    pub(crate) enum ConnectionStatus {
        Published = "published",
        Archived = "archived",
    }
}

/// `sync_config.s3` as stored and shown. For a managed connection, bucket, region and
/// key_prefix come from the operator's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SyncS3 {
    // Unset fields are shown as null, like a job_config's (see JobConfig).
    #[serde(default, with = "empty_is_null")]
    pub bucket: String,
    #[serde(default, with = "empty_is_null")]
    pub region: String,
    #[serde(default, with = "empty_is_null")]
    pub key_prefix: String,
    pub compression: Compression,
    pub encryption: Encryption,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub use_path_style: bool,
    #[serde(default)]
    pub is_flexprice_managed: bool,
}

/// A connection as stored. `sealed_secrets` is the encrypted credential JSON; it never leaves
/// the process except to the S3 server it authenticates against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Connection {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub name: String,
    pub provider_type: String,
    pub sync_s3: Option<SyncS3>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub sealed_secrets: Option<String>,
    pub status: ConnectionStatus,
    pub audit: Audit,
}

impl Connection {
    pub(crate) fn is_managed(&self) -> bool {
        self.sync_s3
            .as_ref()
            .is_some_and(|s| s.is_flexprice_managed)
    }
}

/// Static S3 credentials in plain text. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("S3Credentials(<redacted>)")
    }
}

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";

impl S3Credentials {
    /// Encrypts each value separately (Flexprice's flat layout), bound to the connection id so
    /// a sealed value cannot be replayed on another connection.
    pub(crate) fn seal(&self, secrets: &SecretBox, connection_id: &str) -> String {
        let mut out = serde_json::Map::new();
        let mut put = |name: &str, value: &str| {
            let aad = format!("{connection_id}/{name}");
            out.insert(name.to_owned(), Value::String(secrets.seal(value, &aad)));
        };
        put(ACCESS_KEY_ID, &self.access_key_id);
        put(SECRET_ACCESS_KEY, &self.secret_access_key);
        if let Some(token) = &self.session_token {
            put(SESSION_TOKEN, token);
        }
        Value::Object(out).to_string()
    }

    /// Decrypts what [`S3Credentials::seal`] produced for the same connection.
    pub(crate) fn open(
        sealed: &str,
        secrets: &SecretBox,
        connection_id: &str,
    ) -> Result<Self, SecretError> {
        let map: BTreeMap<String, String> =
            serde_json::from_str(sealed).map_err(|_| SecretError::Corrupt)?;
        let get = |name: &str| -> Result<Option<String>, SecretError> {
            map.get(name)
                .map(|v| secrets.open(v, &format!("{connection_id}/{name}")))
                .transpose()
        };
        Ok(S3Credentials {
            access_key_id: get(ACCESS_KEY_ID)?.ok_or(SecretError::Corrupt)?,
            secret_access_key: get(SECRET_ACCESS_KEY)?.ok_or(SecretError::Corrupt)?,
            session_token: get(SESSION_TOKEN)?,
        })
    }
}

/// A validated `POST /v1/connections`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateConnection {
    pub name: String,
    pub metadata: Option<BTreeMap<String, String>>,
    pub sync_s3: Option<SyncS3>,
    pub credentials: Option<S3Credentials>,
}

#[cfg(test)]
impl CreateConnection {
    pub(crate) fn is_managed(&self) -> bool {
        self.sync_s3
            .as_ref()
            .is_some_and(|s| s.is_flexprice_managed)
    }
}

/// A validated `PUT /v1/connections/{id}`: only what was given changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct UpdateConnection {
    pub name: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub sync_s3: Option<SyncS3>,
    pub credentials: Option<S3Credentials>,
}

const MAX_NAME_CHARS: usize = 255;

pub(crate) fn parse_create(body: &Value) -> Result<CreateConnection, InputError> {
    let mut obj = Obj::root(body)?;
    let name = obj.required_str("name", MAX_NAME_CHARS)?.to_owned();
    check_provider(obj.required_str("provider_type", 64)?)?;
    let metadata = obj.string_map("metadata")?;
    let sync_s3 = parse_sync_config(&mut obj)?;
    let managed = sync_s3.as_ref().is_some_and(|s| s.is_flexprice_managed);
    let credentials = parse_credentials(&mut obj, managed, true)?;
    obj.finish()?;
    Ok(CreateConnection {
        name,
        metadata,
        sync_s3,
        credentials,
    })
}

/// Parses an update of a connection that is (or is not) managed; managed-ness cannot change.
pub(crate) fn parse_update(body: &Value, managed: bool) -> Result<UpdateConnection, InputError> {
    let mut obj = Obj::root(body)?;
    let name = match obj.str("name", MAX_NAME_CHARS)? {
        Some(n) if n.trim().is_empty() => {
            return Err(InputError::new("name", "name must not be empty"));
        }
        n => n.map(str::to_owned),
    };
    if let Some(p) = obj.str("provider_type", 64)? {
        check_provider(p)?;
    }
    let metadata = obj.string_map("metadata")?;
    let sync_s3 = parse_sync_config(&mut obj)?;
    if let Some(s) = &sync_s3
        && s.is_flexprice_managed != managed
    {
        return Err(InputError::new(
            "sync_config.s3.is_flexprice_managed",
            "sync_config.s3.is_flexprice_managed cannot be changed: create a new connection instead",
        ));
    }
    let credentials = parse_credentials(&mut obj, managed, false)?;
    obj.finish()?;
    Ok(UpdateConnection {
        name,
        metadata,
        sync_s3,
        credentials,
    })
}

fn check_provider(provider: &str) -> Result<(), InputError> {
    if provider == PROVIDER_S3 {
        Ok(())
    } else {
        Err(InputError::new(
            "provider_type",
            format!(
                "provider_type must be \"s3\", not {provider:?}: exportd writes to S3-compatible storage only"
            ),
        ))
    }
}

fn parse_sync_config(obj: &mut Obj<'_>) -> Result<Option<SyncS3>, InputError> {
    let Some(mut sync) = obj.obj("sync_config")? else {
        return Ok(None);
    };
    let s3 = sync.obj("s3")?;
    sync.finish()?;
    let Some(mut s3) = s3 else {
        return Ok(None);
    };
    let bucket = s3.str("bucket", 255)?.unwrap_or("").trim().to_owned();
    let region = s3.str("region", 255)?.unwrap_or("").trim().to_owned();
    let key_prefix = normalize_prefix(s3.str("key_prefix", 512)?.unwrap_or("")).map_err(|why| {
        InputError::new(
            "sync_config.s3.key_prefix",
            format!("sync_config.s3.key_prefix {why}"),
        )
    })?;
    let compression = parse_compression(&mut s3, "compression")?;
    let encryption = parse_encryption(&mut s3, "encryption")?;
    let endpoint_url = s3
        .str("endpoint_url", 2048)?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let use_path_style = s3.bool("use_path_style")?.unwrap_or(false);
    let is_flexprice_managed = s3.bool("is_flexprice_managed")?.unwrap_or(false);
    s3.finish()?;
    if !is_flexprice_managed {
        if bucket.is_empty() {
            return Err(InputError::new(
                "sync_config.s3.bucket",
                "S3 bucket name is required",
            ));
        }
        check_bucket_name(&bucket).map_err(|why| InputError::new("sync_config.s3.bucket", why))?;
        if region.is_empty() {
            return Err(InputError::new(
                "sync_config.s3.region",
                "AWS region is required",
            ));
        }
    }
    Ok(Some(SyncS3 {
        bucket,
        region,
        key_prefix,
        compression,
        encryption,
        endpoint_url,
        use_path_style,
        is_flexprice_managed,
    }))
}

fn parse_credentials(
    obj: &mut Obj<'_>,
    managed: bool,
    required: bool,
) -> Result<Option<S3Credentials>, InputError> {
    const FIELD: &str = "encrypted_secret_data";
    let given = obj.has(FIELD);
    let Some(mut secret) = obj.obj(FIELD)? else {
        if required && !managed {
            return Err(InputError::new(
                format!("{FIELD}.{ACCESS_KEY_ID}"),
                format!("{FIELD}.{ACCESS_KEY_ID} is required"),
            ));
        }
        return Ok(None);
    };
    let access_key_id = secret.str(ACCESS_KEY_ID, 256)?.unwrap_or("");
    let secret_access_key = secret.str(SECRET_ACCESS_KEY, 256)?.unwrap_or("");
    let session_token = secret.str(SESSION_TOKEN, 8192)?.filter(|t| !t.is_empty());
    secret.finish()?;
    if managed {
        if given
            && (!access_key_id.is_empty()
                || !secret_access_key.is_empty()
                || session_token.is_some())
        {
            return Err(InputError::new(
                FIELD,
                "encrypted_secret_data is not used by managed connections: the operator's managed destination has its own credentials",
            ));
        }
        return Ok(None);
    }
    for (name, value) in [
        (ACCESS_KEY_ID, access_key_id),
        (SECRET_ACCESS_KEY, secret_access_key),
    ] {
        if value.trim().is_empty() {
            return Err(InputError::new(
                format!("{FIELD}.{name}"),
                format!("{FIELD}.{name} is required"),
            ));
        }
    }
    Ok(Some(S3Credentials {
        access_key_id: access_key_id.to_owned(),
        secret_access_key: secret_access_key.to_owned(),
        session_token: session_token.map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(v: Value) -> Result<CreateConnection, InputError> {
        parse_create(&v)
    }

    fn creds() -> Value {
        json!({"aws_access_key_id":"AKID","aws_secret_access_key":"SECRET"})
    }

    #[test]
    fn a_customer_connection_needs_name_provider_and_both_keys() {
        let c = create(json!({"name":"prod","provider_type":"s3","encrypted_secret_data":creds()}))
            .expect("valid");
        assert_eq!(
            c.credentials.as_ref().map(|c| c.access_key_id.as_str()),
            Some("AKID")
        );
        assert!(!c.is_managed());
        let err =
            create(json!({"provider_type":"s3","encrypted_secret_data":creds()})).unwrap_err();
        assert_eq!(err.message, "name is required");
        let err =
            create(json!({"name":"x","provider_type":"stripe","encrypted_secret_data":creds()}))
                .unwrap_err();
        assert!(err.message.contains("S3-compatible storage only"));
        let err = create(json!({"name":"x","provider_type":"s3"})).unwrap_err();
        assert_eq!(
            err.message,
            "encrypted_secret_data.aws_access_key_id is required"
        );
        let err = create(json!({"name":"x","provider_type":"s3","encrypted_secret_data":{"aws_access_key_id":"a"}})).unwrap_err();
        assert_eq!(
            err.message,
            "encrypted_secret_data.aws_secret_access_key is required"
        );
        let err = create(json!({"name":"x","provider_type":"s3","encrypted_secret_data":{"aws_access_key_id":"a","aws_secret_access_key":"b","token":"c"}})).unwrap_err();
        assert_eq!(
            err.message,
            "encrypted_secret_data.token is not a known field"
        );
    }

    #[test]
    fn sync_config_is_validated_like_a_job_config() {
        let base = |s3: Value| json!({"name":"x","provider_type":"s3","encrypted_secret_data":creds(),"sync_config":{"s3":s3}});
        let c = create(base(
            json!({"bucket":"b-1","region":"us-east-1","key_prefix":"/x/"}),
        ))
        .expect("valid");
        let s3 = c.sync_s3.expect("sync");
        assert_eq!(
            (s3.key_prefix.as_str(), s3.encryption),
            ("x", Encryption::Aes256)
        );
        assert_eq!(
            create(base(json!({"region":"r"}))).unwrap_err().message,
            "S3 bucket name is required"
        );
        assert_eq!(
            create(base(json!({"bucket":"b-1"}))).unwrap_err().message,
            "AWS region is required"
        );
        assert_eq!(
            create(base(
                json!({"bucket":"b-1","region":"r","compression":"xz"})
            ))
            .unwrap_err()
            .field,
            "sync_config.s3.compression"
        );
        let err = create(json!({"name":"x","provider_type":"s3","encrypted_secret_data":creds(),"sync_config":{"gcs":{}}})).unwrap_err();
        assert_eq!(err.message, "sync_config.gcs is not a known field");
    }

    #[test]
    fn managed_connections_take_no_credentials() {
        let c = create(json!({"name":"m","provider_type":"s3","sync_config":{"s3":{"is_flexprice_managed":true}}})).expect("valid");
        assert!(c.is_managed());
        assert_eq!(c.credentials, None);
        let err = create(json!({"name":"m","provider_type":"s3","encrypted_secret_data":creds(),"sync_config":{"s3":{"is_flexprice_managed":true}}})).unwrap_err();
        assert_eq!(err.field, "encrypted_secret_data");
    }

    #[test]
    fn updates_change_only_what_is_given_and_keep_managedness() {
        let u = parse_update(&json!({"name":"renamed"}), false).expect("valid");
        assert_eq!(
            u,
            UpdateConnection {
                name: Some("renamed".into()),
                ..Default::default()
            }
        );
        let u = parse_update(&json!({"encrypted_secret_data":{"aws_access_key_id":"A2","aws_secret_access_key":"S2","aws_session_token":"T"}}), false).expect("valid");
        assert_eq!(
            u.credentials.and_then(|c| c.session_token).as_deref(),
            Some("T")
        );
        assert_eq!(
            parse_update(&json!({"name":" "}), false)
                .unwrap_err()
                .message,
            "name must not be empty"
        );
        let err = parse_update(
            &json!({"sync_config":{"s3":{"is_flexprice_managed":true}}}),
            false,
        )
        .unwrap_err();
        assert!(err.message.contains("cannot be changed"));
        assert!(parse_update(&json!({"provider_type":"gcs"}), false).is_err());
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = S3Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "SECRET".into(),
            session_token: None,
        };
        assert_eq!(format!("{c:?}"), "S3Credentials(<redacted>)");
    }
}
