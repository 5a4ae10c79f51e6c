//! Where exported objects go: an S3-compatible bucket, or a directory on this host (the
//! managed destination for development and air-gapped single hosts). Both take an object
//! as a stream of fixed-size parts, so memory stays bounded whatever the object's size.

pub(crate) mod destination;
pub(crate) mod directory;
pub(crate) mod endpoint;
pub(crate) mod key;
pub(crate) mod s3;
pub mod sigv4;

use crate::failure::ExportError;
use crate::scheduled_tasks::job_config::Encryption;

/// How an object is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectMeta {
    pub content_type: &'static str,
    pub encryption: Encryption,
    pub kms_key_id: Option<String>,
}

/// One object being written.
pub(crate) trait Upload {
    /// Opens the multipart upload if none is open yet, so that its id can be kept on the run
    /// before any part is sent (a crash during the first part must still leave an id to
    /// abort). Nothing to do where parts need no upload.
    fn begin(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
    /// Sends one full part. Every part but the last has the same size.
    fn part(&mut self, data: &[u8]) -> Result<(), ExportError>;
    /// The server's multipart upload id, once one was started (kept on the run so an
    /// interrupted upload can be aborted later).
    fn upload_id(&self) -> Option<&str>;
    /// Sends the remaining bytes (possibly the whole object) and makes the object visible.
    fn finish(self: Box<Self>, tail: &[u8]) -> Result<(), ExportError>;
    /// Gives up, leaving nothing behind: no partial object, no open multipart upload.
    fn abort(self: Box<Self>);
}

/// A resolved destination for one run.
pub(crate) enum Destination {
    S3(s3::S3Destination),
    Directory(directory::DirDestination),
}

impl Destination {
    /// The bucket name shown in `file_url` (for a directory, the configured label).
    pub(crate) fn bucket(&self) -> &str {
        match self {
            Destination::S3(d) => d.bucket_name(),
            Destination::Directory(d) => d.bucket_name(),
        }
    }

    /// `s3://bucket/key`, Flexprice's form, for both kinds.
    pub(crate) fn file_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket())
    }

    pub(crate) fn begin(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<Box<dyn Upload + '_>, ExportError> {
        match self {
            Destination::S3(d) => Ok(Box::new(d.begin(key, meta))),
            Destination::Directory(d) => Ok(Box::new(d.begin(key)?)),
        }
    }

    /// Writes a small object in one go (a manifest, a probe).
    pub(crate) fn put(
        &self,
        key: &str,
        bytes: &[u8],
        meta: &ObjectMeta,
    ) -> Result<(), ExportError> {
        let upload = self.begin(key, meta)?;
        upload.finish(bytes)
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), ExportError> {
        match self {
            Destination::S3(d) => d.delete(key),
            Destination::Directory(d) => d.delete(key),
        }
    }

    /// Aborts a multipart upload left open by an interrupted run.
    pub(crate) fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), ExportError> {
        match self {
            Destination::S3(d) => d.abort_upload(key, upload_id),
            // Directory uploads are temporary files removed by the writer; a crash can leave
            // one behind, which is cleaned when the same key is written again.
            Destination::Directory(_) => Ok(()),
        }
    }

    /// Writes and deletes a small probe object, reporting each step.
    pub(crate) fn probe(&self, meta: &ObjectMeta) -> Vec<ProbeStep> {
        let key = format!("exportd-connection-test/{}.txt", ulid::Ulid::new());
        let write = self.put(&key, b"exportd connection test\n", meta);
        let wrote = write.is_ok();
        let mut steps = vec![ProbeStep::new("write", write)];
        if wrote {
            steps.push(ProbeStep::new("delete", self.delete(&key)));
        }
        steps
    }
}

/// One step of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeStep {
    pub step: &'static str,
    pub error: Option<ExportError>,
}

impl ProbeStep {
    pub(crate) fn new(step: &'static str, result: Result<(), ExportError>) -> ProbeStep {
        ProbeStep {
            step,
            error: result.err(),
        }
    }
}
