//! The byte path of an export: CSV records → (gzip) → fixed-size parts → an [`Upload`].
//! Memory is one part buffer plus the encoders' small windows, whatever the export's size.
//!
//! `Pipeline` hashes (SHA-256) and counts the stored bytes as they pass, counts the CSV bytes
//! before compression, and turns any failure into "abandoned": later writes (such as the
//! encoders' own flushes while they are dropped) are discarded, and the upload is aborted.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::ExportError;
use crate::secrets::to_hex;
use crate::sink::Upload;

/// What the pipeline shares between its layers: the first failure, once there is one.
#[derive(Default)]
struct Shared {
    failure: Option<ExportError>,
}

type SharedState = Rc<RefCell<Shared>>;

fn fail(shared: &SharedState, e: ExportError) -> io::Error {
    let mut s = shared.borrow_mut();
    let message = e.summary.clone();
    s.failure.get_or_insert(e);
    io::Error::other(message)
}

/// Cuts the stored bytes into parts and hands them to the upload.
pub struct PartWriter<'a> {
    upload: Option<Box<dyn Upload + 'a>>,
    buf: Vec<u8>,
    part_size: usize,
    hasher: Sha256,
    stored: u64,
    shared: SharedState,
    cancel: &'a AtomicBool,
    on_upload_id: Box<dyn FnMut(&str) + 'a>,
    announced: bool,
}

impl PartWriter<'_> {
    fn send_part(&mut self) -> io::Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(fail(&self.shared, ExportError::interrupted("shutdown")));
        }
        let Some(upload) = self.upload.as_mut() else {
            return Err(io::Error::other("upload already closed"));
        };
        if let Err(e) = upload.part(&self.buf) {
            return Err(fail(&self.shared, e));
        }
        if !self.announced
            && let Some(id) = upload.upload_id()
        {
            let id = id.to_owned();
            (self.on_upload_id)(&id);
            self.announced = true;
        }
        self.buf.clear();
        Ok(())
    }
}

impl Write for PartWriter<'_> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let len = data.len();
        if self.shared.borrow().failure.is_some() {
            // Abandoned: swallow what the layers above flush while they are dropped.
            return Ok(len);
        }
        self.hasher.update(data);
        self.stored += len as u64;
        while !data.is_empty() {
            let room = self.part_size - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == self.part_size {
                self.send_part()?;
            }
        }
        Ok(len)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PartWriter<'_> {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            upload.abort();
        }
    }
}

/// Counts the bytes that pass (the uncompressed CSV size).
pub struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub enum Compressor<'a> {
    Plain(PartWriter<'a>),
    // Boxed: the encoder's state makes it much larger than the plain variant.
    Gzip(Box<GzEncoder<PartWriter<'a>>>),
}

impl Write for Compressor<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(w) => w.write(data),
            Compressor::Gzip(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where CSV records are written.
pub type RecordWriter<'a> = csv::Writer<Counting<Compressor<'a>>>;

/// Totals of a finished object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub uncompressed_bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
}

pub struct Pipeline<'a> {
    pub records: RecordWriter<'a>,
    shared: SharedState,
}

/// Settings of one pipeline.
pub struct PipelineOptions<'a> {
    pub part_size: usize,
    /// `Some(level)` for gzip.
    pub gzip_level: Option<u32>,
    pub cancel: &'a AtomicBool,
    /// Called once with the multipart upload id when the upload starts one.
    pub on_upload_id: Box<dyn FnMut(&str) + 'a>,
}

impl<'a> Pipeline<'a> {
    pub fn new(upload: Box<dyn Upload + 'a>, options: PipelineOptions<'a>) -> Pipeline<'a> {
        let shared = SharedState::default();
        let parts = PartWriter {
            upload: Some(upload),
            buf: Vec::with_capacity(options.part_size),
            part_size: options.part_size,
            hasher: Sha256::new(),
            stored: 0,
            shared: shared.clone(),
            cancel: options.cancel,
            on_upload_id: options.on_upload_id,
            announced: false,
        };
        let compressor = match options.gzip_level {
            None => Compressor::Plain(parts),
            Some(level) => Compressor::Gzip(Box::new(GzEncoder::new(
                parts,
                flate2::Compression::new(level),
            ))),
        };
        let records = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(64 * 1024)
            .from_writer(Counting {
                inner: compressor,
                count: 0,
            });
        Pipeline { records, shared }
    }

    /// The failure recorded by a lower layer, else `fallback`.
    fn failure_or(&self, fallback: ExportError) -> ExportError {
        self.shared.borrow().failure.clone().unwrap_or(fallback)
    }

    /// Turns a CSV write error into the failure that caused it.
    pub fn write_error(&self, e: csv::Error) -> ExportError {
        self.failure_or(ExportError::retryable(
            "writing the CSV failed",
            e.to_string(),
        ))
    }

    /// Gives up: the upload is aborted and nothing else is sent.
    pub fn abandon(self, reason: ExportError) {
        self.shared.borrow_mut().failure.get_or_insert(reason);
        // Dropping flushes the encoders into the abandoned part writer (discarded), then the
        // part writer aborts the upload.
    }

    /// Flushes every layer and completes the upload.
    pub fn finish(self) -> Result<Stored, ExportError> {
        let shared = self.shared.clone();
        let failure = |fallback: ExportError| shared.borrow().failure.clone().unwrap_or(fallback);
        let counting = self.records.into_inner().map_err(|e| {
            let err = failure(ExportError::retryable(
                "writing the CSV failed",
                e.to_string(),
            ));
            shared.borrow_mut().failure.get_or_insert(err.clone());
            err
        })?;
        let uncompressed_bytes = counting.count;
        let mut parts = match counting.inner {
            Compressor::Plain(w) => w,
            Compressor::Gzip(gz) => gz.finish().map_err(|e| {
                let err = failure(ExportError::retryable("compressing failed", e.to_string()));
                shared.borrow_mut().failure.get_or_insert(err.clone());
                err
            })?,
        };
        if let Some(e) = shared.borrow().failure.clone() {
            return Err(e);
        }
        if parts.cancel.load(Ordering::Relaxed) {
            return Err(ExportError::interrupted("shutdown"));
        }
        let Some(upload) = parts.upload.take() else {
            return Err(ExportError::retryable(
                "the upload was closed early",
                "no upload",
            ));
        };
        let tail = std::mem::take(&mut parts.buf);
        upload.finish(&tail)?;
        Ok(Stored {
            uncompressed_bytes,
            stored_bytes: parts.stored,
            sha256: to_hex(&std::mem::take(&mut parts.hasher).finalize()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io::Read;

    /// An upload that keeps what it is given, to look at afterwards.
    #[derive(Default)]
    struct Recorder {
        parts: Vec<Vec<u8>>,
        finished: Option<Vec<u8>>,
        aborted: bool,
        fail_part: Option<usize>,
    }

    struct Recording<'r>(&'r RefCell<Recorder>);

    impl Upload for Recording<'_> {
        fn part(&mut self, data: &[u8]) -> Result<(), ExportError> {
            let mut r = self.0.borrow_mut();
            if r.fail_part == Some(r.parts.len()) {
                return Err(ExportError::retryable("part failed", "test"));
            }
            r.parts.push(data.to_vec());
            Ok(())
        }
        fn upload_id(&self) -> Option<&str> {
            if self.0.borrow().parts.is_empty() {
                None
            } else {
                Some("upload-1")
            }
        }
        fn finish(self: Box<Self>, tail: &[u8]) -> Result<(), ExportError> {
            self.0.borrow_mut().finished = Some(tail.to_vec());
            Ok(())
        }
        fn abort(self: Box<Self>) {
            self.0.borrow_mut().aborted = true;
        }
    }

    fn run(
        rows: usize,
        gzip: Option<u32>,
        rec: &RefCell<Recorder>,
        cancel: &AtomicBool,
    ) -> (Result<Stored, ExportError>, Vec<String>) {
        let ids = Rc::new(RefCell::new(Vec::new()));
        let sink = ids.clone();
        let mut p = Pipeline::new(
            Box::new(Recording(rec)),
            PipelineOptions {
                part_size: 1000,
                gzip_level: gzip,
                cancel,
                on_upload_id: Box::new(move |id| sink.borrow_mut().push(id.to_owned())),
            },
        );
        p.records.write_record(["id", "note"]).unwrap();
        for i in 0..rows {
            if let Err(e) = p
                .records
                .write_record([i.to_string().as_str(), "a, \"quoted\" value"])
            {
                let err = p.write_error(e);
                p.abandon(err.clone());
                return (Err(err), ids.borrow().clone());
            }
        }
        let result = p.finish();
        let ids = ids.borrow().clone();
        (result, ids)
    }

    fn expected_csv(rows: usize) -> Vec<u8> {
        let mut s = String::from("id,note\n");
        for i in 0..rows {
            s.push_str(&format!("{i},\"a, \"\"quoted\"\" value\"\n"));
        }
        s.into_bytes()
    }

    #[test]
    fn small_objects_go_as_one_finish_and_large_ones_in_equal_parts() {
        let rec = RefCell::new(Recorder::default());
        let cancel = AtomicBool::new(false);
        let (stored, ids) = run(3, None, &rec, &cancel);
        let stored = stored.unwrap();
        let r = rec.borrow();
        assert!(r.parts.is_empty() && ids.is_empty());
        assert_eq!(r.finished.as_deref(), Some(&expected_csv(3)[..]));
        assert_eq!(stored.uncompressed_bytes, expected_csv(3).len() as u64);
        assert_eq!(stored.sha256, to_hex(&Sha256::digest(expected_csv(3))));
        drop(r);

        let rec = RefCell::new(Recorder::default());
        let (stored, ids) = run(500, None, &rec, &cancel);
        let stored = stored.unwrap();
        let r = rec.borrow();
        assert!(
            r.parts.len() > 4 && r.parts.iter().all(|p| p.len() == 1000),
            "parts of exactly part_size"
        );
        let mut all: Vec<u8> = r.parts.concat();
        all.extend_from_slice(r.finished.as_ref().unwrap());
        assert_eq!(all, expected_csv(500));
        assert_eq!(stored.stored_bytes, all.len() as u64);
        assert_eq!(
            ids,
            vec!["upload-1".to_owned()],
            "the upload id is announced once"
        );
        assert!(!r.aborted);
    }

    #[test]
    fn gzip_output_decompresses_to_the_csv_and_sizes_are_both_counted() {
        let rec = RefCell::new(Recorder::default());
        let cancel = AtomicBool::new(false);
        let stored = run(2000, Some(6), &rec, &cancel).0.unwrap();
        let r = rec.borrow();
        let mut gz: Vec<u8> = r.parts.concat();
        gz.extend_from_slice(r.finished.as_ref().unwrap());
        assert_eq!(stored.stored_bytes, gz.len() as u64);
        assert_eq!(stored.sha256, to_hex(&Sha256::digest(&gz)));
        let mut csv = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut csv)
            .unwrap();
        assert_eq!(csv, expected_csv(2000));
        assert_eq!(stored.uncompressed_bytes, csv.len() as u64);
        assert!(stored.stored_bytes < stored.uncompressed_bytes);
    }

    #[test]
    fn a_failed_part_aborts_the_upload_and_sends_nothing_more() {
        let rec = RefCell::new(Recorder {
            fail_part: Some(2),
            ..Default::default()
        });
        let cancel = AtomicBool::new(false);
        let err = run(500, None, &rec, &cancel).0.unwrap_err();
        assert_eq!(err.summary, "part failed");
        let r = rec.borrow();
        assert_eq!(r.parts.len(), 2);
        assert!(r.aborted && r.finished.is_none());
    }

    #[test]
    fn cancelling_interrupts_and_aborts() {
        let rec = RefCell::new(Recorder::default());
        let cancel = AtomicBool::new(true);
        let err = run(500, Some(1), &rec, &cancel).0.unwrap_err();
        assert_eq!(err.summary, "interrupted by shutdown");
        assert!(rec.borrow().aborted && rec.borrow().finished.is_none());
    }
}
