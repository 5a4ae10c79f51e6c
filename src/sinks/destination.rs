//! Where a task writes: its connection and job_config resolved to a [`Destination`], for runs,
//! downloads and connection tests alike.

use super::directory::DirDestination;
use super::endpoint;
use super::s3::{S3Destination, S3Spec};
use super::{Destination, ObjectMeta};
use crate::config::{Config, Managed};
use crate::connections::{Connection, S3Credentials};
use crate::failure::ExportError;
use crate::scheduled_tasks::job_config::{Encryption, JobConfig, Provider};
use crate::secrets::SecretBox;

/// Where a task writes: the operator's managed destination, or the task's own bucket with the
/// connection's credentials (the endpoint rule is checked again, with a fresh DNS lookup).
pub(crate) fn destination(
    config: &Config,
    secrets: &SecretBox,
    job: &JobConfig,
    connection: &Connection,
) -> Result<Destination, ExportError> {
    let timeout = config.request_timeout;
    if connection.is_managed() || job.provider == Provider::Flexprice {
        return match &config.managed {
            Managed::Disabled => Err(ExportError::terminal(
                "the operator has disabled the managed destination ([managed_destination] kind = \"none\")",
                "managed destination disabled",
            )),
            Managed::Directory { root, bucket, .. } => {
                Ok(Destination::Directory(DirDestination::new(root, bucket)))
            }
            Managed::S3 {
                bucket,
                region,
                endpoint_url,
                use_path_style,
                credentials,
            } => Ok(Destination::S3(S3Destination::new(&S3Spec {
                bucket,
                region,
                endpoint_url: endpoint_url.as_deref(),
                path_style: *use_path_style,
                credentials,
                timeout,
            })?)),
        };
    }
    let sealed = connection.sealed_secrets.as_deref().ok_or_else(|| {
        ExportError::terminal(
            "the connection has no credentials: set them with PUT /v1/connections/{id}",
            "no sealed secrets",
        )
    })?;
    let credentials = S3Credentials::open(sealed, secrets, &connection.id).map_err(|e| {
        ExportError::terminal(
            "the connection's credentials cannot be decrypted (the secrets key changed since they were stored): set them again with PUT /v1/connections/{id}",
            e.to_string(),
        )
    })?;
    if let Some(url) = &job.endpoint_url {
        endpoint::check(url, &config.allowed_endpoints, &endpoint::system_resolver).map_err(
            |why| {
                ExportError::terminal(
                    format!("job_config.endpoint_url is not allowed: it {why}"),
                    format!("endpoint {url}: {why}"),
                )
            },
        )?;
    }
    Ok(Destination::S3(S3Destination::new(&S3Spec {
        bucket: &job.bucket,
        region: &job.region,
        endpoint_url: job.endpoint_url.as_deref(),
        path_style: job.use_path_style,
        credentials: &credentials,
        timeout,
    })?))
}

/// The object meta of a probe (connection test): no encryption unless asked.
pub(crate) fn probe_meta(encryption: Encryption, kms_key_id: Option<String>) -> ObjectMeta {
    ObjectMeta {
        content_type: "text/plain; charset=utf-8",
        encryption,
        kms_key_id,
    }
}
