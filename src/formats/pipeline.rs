//! The byte path of an export: CSV records → (gzip or zstd) → fixed-size parts → an [`Upload`].
//! Memory is one part buffer plus the encoders' small windows and a few queued chunks,
//! whatever the export's size.
//!
//! `Pipeline` hashes (SHA-256) and counts the stored bytes as they pass, counts the CSV bytes
//! before compression, and turns any failure into "abandoned": later writes (such as the
//! encoders' own flushes while they are dropped) are discarded, and the upload is aborted.
//!
//! Rows written to [`Pipeline::records`] are formatted, compressed and uploaded on the calling
//! thread (gzip and zstd spread their blocks over threads of their own, see [`super::compress`]).
//! [`Pipeline::parallel`] spreads the work over more threads: one reads and formats the rows,
//! one feeds the compressor (when there is something to compress), and the calling thread
//! uploads (an [`Upload`] stays on the thread that began it). Bounded channels join them, so memory stays bounded, and on two cores
//! reading, compressing and uploading overlap. The stored bytes are the same either way: they
//! depend on the CSV bytes alone, not on how they are cut into writes.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use sha2::{Digest, Sha256};

use super::compress::{Codec, Compressor};
use crate::failure::ExportError;
use crate::secrets::to_hex;
use crate::sinks::Upload;
use chunks::{ChunkSender, chunk_channel, drain};

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
pub(crate) struct PartWriter<'a> {
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
        if let Err(e) = upload.begin() {
            return Err(fail(&self.shared, e));
        }
        // Recorded before the part goes: a crash while it uploads leaves an id to abort.
        if !self.announced
            && let Some(id) = upload.upload_id()
        {
            let id = id.to_owned();
            (self.on_upload_id)(&id);
            self.announced = true;
        }
        if let Err(e) = upload.part(&self.buf) {
            return Err(fail(&self.shared, e));
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
pub(crate) struct Counting<W> {
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

/// CSV (counted) → compression → `W`.
type Chain<W> = Counting<Compressor<W>>;

fn chain<W: Write>(inner: W, codec: Codec) -> io::Result<Chain<W>> {
    Ok(Counting {
        inner: Compressor::new(inner, codec)?,
        count: 0,
    })
}

/// Where the compression runs.
enum Stage<'a> {
    /// Nothing written yet. The chain is made at the first write, on this thread, unless
    /// [`Pipeline::parallel`] takes over first (then what the record writer flushes is
    /// `captured` rather than compressed).
    Pending {
        parts: PartWriter<'a>,
        codec: Codec,
        capturing: bool,
        captured: Vec<u8>,
    },
    /// Compressing on this thread.
    Here(Chain<PartWriter<'a>>),
    /// Compressed on another thread by [`Pipeline::parallel`]; `uncompressed` CSV bytes went
    /// in, and what came out went to `parts`.
    Done {
        parts: PartWriter<'a>,
        uncompressed: u64,
    },
    /// In the middle of a change.
    Moved,
}

impl Stage<'_> {
    /// From pending to compressing here.
    fn start_here(&mut self) -> io::Result<()> {
        if let Stage::Pending { parts, codec, .. } = std::mem::replace(self, Stage::Moved) {
            *self = Stage::Here(chain(parts, codec)?);
        }
        Ok(())
    }
}

/// The record writer's way into the stage.
pub(crate) struct Sink<'a>(Rc<RefCell<Stage<'a>>>);

impl Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut stage = self.0.borrow_mut();
        match &mut *stage {
            Stage::Pending {
                capturing: true,
                captured,
                ..
            } => {
                captured.extend_from_slice(data);
                return Ok(data.len());
            }
            Stage::Pending { .. } => stage.start_here()?,
            _ => {}
        }
        match &mut *stage {
            Stage::Here(chain) => chain.write(data),
            _ => Err(io::Error::other("the export's CSV was already compressed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where CSV records are written.
pub(crate) type RecordWriter<'a> = csv::Writer<Sink<'a>>;

/// The reading thread's bytes are sent on in chunks of this size (writes are gathered: a
/// Parquet file is written a page header at a time)...
const CSV_CHUNK: usize = 64 * 1024;
/// ...with up to this many queued for the compressing thread, or for the upload when there is
/// nothing to compress: 2 MiB.
const CSV_QUEUED: usize = 32;
/// Compressed bytes are sent on in chunks of this size...
const COMPRESSED_CHUNK: usize = 256 * 1024;
/// ...with up to this many queued: 4 MiB, a few times what compression makes while a part
/// uploads, so that the compressor rarely waits for the upload.
const COMPRESSED_QUEUED: usize = 16;

/// Totals of a finished object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub uncompressed_bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
}

pub(crate) struct Pipeline<'a> {
    pub records: RecordWriter<'a>,
    stage: Rc<RefCell<Stage<'a>>>,
    shared: SharedState,
}

/// Settings of one pipeline.
pub(crate) struct PipelineOptions<'a> {
    pub part_size: usize,
    pub compression: Codec,
    pub cancel: &'a AtomicBool,
    /// Called once with the multipart upload id when the upload starts one.
    pub on_upload_id: Box<dyn FnMut(&str) + 'a>,
}

impl<'a> Pipeline<'a> {
    pub(crate) fn new(upload: Box<dyn Upload + 'a>, options: PipelineOptions<'a>) -> Pipeline<'a> {
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
        let stage = Rc::new(RefCell::new(Stage::Pending {
            parts,
            codec: options.compression,
            capturing: false,
            captured: Vec::new(),
        }));
        let records = super::csv::writer(Sink(stage.clone()));
        Pipeline {
            records,
            stage,
            shared,
        }
    }

    /// Runs `produce` on a reading thread, where it writes CSV records (as bytes, see
    /// [`super::csv::write_rows`]) to the [`ChunkSender`] it is given, after the records already
    /// written to `records` (the header). A second thread compresses them and this one
    /// uploads. Returns what `produce` returns; when uploading fails (or is cancelled), the
    /// other threads stop and that failure is returned.
    pub(crate) fn parallel<T: Send>(
        &mut self,
        produce: impl FnOnce(&mut ChunkSender) -> Result<T, ExportError> + Send,
    ) -> Result<T, ExportError> {
        self.parallel_bytes(move |mut out| {
            let produced = produce(&mut out)?;
            Ok((produced, out))
        })
    }

    /// As [`Self::parallel`], for a writer of any format: `produce` writes the file's bytes to
    /// the [`ChunkSender`] it is given (after what `records` holds) and gives it back at the
    /// end. A format writer that must live where the rows are made (Parquet's is not shared
    /// with the uploading thread) runs there.
    pub(crate) fn parallel_bytes<T: Send>(
        &mut self,
        produce: impl FnOnce(ChunkSender) -> Result<(T, ChunkSender), ExportError> + Send,
    ) -> Result<T, ExportError> {
        // Take back what the record writer holds (the header): the reading thread sends it
        // ahead of the rows.
        let codec = match &mut *self.stage.borrow_mut() {
            Stage::Pending {
                codec, capturing, ..
            } => {
                *capturing = true;
                Some(*codec)
            }
            _ => None,
        };
        let flushed = self.records.flush();
        let captured = match &mut *self.stage.borrow_mut() {
            Stage::Pending {
                capturing,
                captured,
                ..
            } => {
                *capturing = false;
                std::mem::take(captured)
            }
            _ => Vec::new(),
        };
        if let Err(e) = flushed {
            return Err(self.write_error(e.into()));
        }
        let (csv_out, csv_in, csv_back) = chunk_channel(CSV_QUEUED, CSV_CHUNK);
        let complete = AtomicBool::new(false);
        let (produced, compressed, written) = std::thread::scope(|scope| {
            let complete = &complete;
            let reader = std::thread::Builder::new()
                .name("export-reader".into())
                .spawn_scoped(scope, move || {
                    let mut csv_out = csv_out;
                    csv_out
                        .write_all(&captured)
                        .map_err(|e| super::csv::failed(e.into()))?;
                    let (produced, mut rest) = produce(csv_out)?;
                    rest.send().map_err(|e| super::csv::failed(e.into()))?;
                    // Before the sender goes: its going is what ends the compressor's input.
                    complete.store(true, Ordering::SeqCst);
                    drop(rest);
                    Ok(produced)
                })
                .map_err(ExportError::no_thread);
            let mut stage = self.stage.borrow_mut();
            let (compressed, written) = match (codec, std::mem::replace(&mut *stage, Stage::Moved))
            {
                // Nothing to compress (plain CSV, Parquet): the bytes go to the parts from
                // here, with no thread between to copy them and hold 4 MiB more.
                (Some(Codec::None), Stage::Pending { mut parts, .. }) => {
                    let mut uncompressed = 0;
                    let written = drain(csv_in, &csv_back, |chunk| {
                        uncompressed += chunk.len() as u64;
                        parts.write_all(chunk)
                    });
                    *stage = Stage::Done {
                        parts,
                        uncompressed,
                    };
                    (Ok(()), written)
                }
                (Some(codec), Stage::Pending { mut parts, .. }) => {
                    let (packed_out, packed_in, packed_back) =
                        chunk_channel(COMPRESSED_QUEUED, COMPRESSED_CHUNK);
                    let compressor = std::thread::Builder::new()
                        .name("export-compress".into())
                        .spawn_scoped(scope, move || {
                            compress(csv_in, &csv_back, codec, packed_out, complete)
                        })
                        .map_err(ExportError::no_thread);
                    let written = drain(packed_in, &packed_back, |chunk| parts.write_all(chunk));
                    let (uncompressed, compressed) = match compressor.map(|h| h.join()) {
                        Ok(Ok(Ok(n))) => (n, Ok(())),
                        Ok(Ok(Err(e))) | Err(e) => (0, Err(e)),
                        Ok(Err(_)) => (0, Err(ExportError::panicked("compressing"))),
                    };
                    *stage = Stage::Done {
                        parts,
                        uncompressed,
                    };
                    (compressed, written)
                }
                // Records were already compressed here: go on here, reading on the other thread.
                (_, Stage::Here(mut chain)) => {
                    let written = drain(csv_in, &csv_back, |chunk| chain.write_all(chunk));
                    *stage = Stage::Here(chain);
                    (Ok(()), written)
                }
                (_, other) => {
                    *stage = other;
                    drop(csv_in);
                    (
                        Err(ExportError::retryable(
                            "writing the CSV failed",
                            "the pipeline was already finished",
                        )),
                        Ok(()),
                    )
                }
            };
            drop(stage);
            let produced = match reader.map(|h| h.join()) {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(ExportError::panicked("reading the rows")),
                Err(e) => Err(e),
            };
            (produced, compressed, written)
        });
        // A failure to upload (or a cancel) stops the other threads: it is the cause of any
        // failure they saw. Else the reader's failure stops the compressor, and so on.
        if let Some(e) = self.shared.borrow().failure.clone() {
            return Err(e);
        }
        if let Err(e) = written {
            return Err(self.write_error(e.into()));
        }
        let produced = produced?;
        compressed?;
        Ok(produced)
    }
    /// The failure recorded by a lower layer, else `fallback`.
    fn failure_or(&self, fallback: ExportError) -> ExportError {
        self.shared.borrow().failure.clone().unwrap_or(fallback)
    }

    /// Turns a CSV write error into the failure that caused it.
    pub(crate) fn write_error(&self, e: csv::Error) -> ExportError {
        self.failure_or(ExportError::retryable(
            "writing the CSV failed",
            e.to_string(),
        ))
    }

    /// Gives up: the upload is aborted and nothing else is sent.
    pub(crate) fn abandon(self, reason: ExportError) {
        self.shared.borrow_mut().failure.get_or_insert(reason);
        // Dropping flushes the encoders into the abandoned part writer (discarded), then the
        // part writer aborts the upload.
    }

    /// Flushes every layer and completes the upload.
    pub(crate) fn finish(self) -> Result<Stored, ExportError> {
        let shared = self.shared.clone();
        let failure = |fallback: ExportError| shared.borrow().failure.clone().unwrap_or(fallback);
        let records = self.records.into_inner().map_err(|e| {
            let err = failure(ExportError::retryable(
                "writing the CSV failed",
                e.to_string(),
            ));
            shared.borrow_mut().failure.get_or_insert(err.clone());
            err
        })?;
        drop(records);
        let stage = std::mem::replace(&mut *self.stage.borrow_mut(), Stage::Moved);
        let chain = match stage {
            Stage::Pending { parts, codec, .. } => chain(parts, codec).map_err(|e| {
                let err = failure(ExportError::retryable("compressing failed", e.to_string()));
                shared.borrow_mut().failure.get_or_insert(err.clone());
                err
            })?,
            Stage::Here(chain) => chain,
            Stage::Done {
                parts,
                uncompressed,
            } => Counting {
                inner: Compressor::Plain(parts),
                count: uncompressed,
            },
            Stage::Moved => {
                return Err(ExportError::retryable(
                    "writing the CSV failed",
                    "the pipeline was finished twice",
                ));
            }
        };
        let uncompressed_bytes = chain.count;
        let mut parts = chain.inner.finish().map_err(|e| {
            let err = failure(ExportError::retryable("compressing failed", e.to_string()));
            shared.borrow_mut().failure.get_or_insert(err.clone());
            err
        })?;
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

/// The compressing thread of [`Pipeline::parallel`]: each CSV chunk is written to the encoder
/// as the CSV writer flushed it, and the compressed bytes go on in chunks. Returns how many
/// CSV bytes went in; fails, sending nothing more, when the reading thread did not finish.
fn compress(
    csv: Receiver<Vec<u8>>,
    back: &Sender<Vec<u8>>,
    codec: Codec,
    out: ChunkSender,
    complete: &AtomicBool,
) -> Result<u64, ExportError> {
    let mut chain = chain(out, codec)
        .map_err(|e| ExportError::retryable("compressing failed", e.to_string()))?;
    let fed = drain(csv, back, |chunk| chain.write_all(chunk));
    if fed.is_err() || !complete.load(Ordering::SeqCst) {
        // Not even what the encoder writes as it is dropped goes out.
        chain.inner.get_mut().stop();
        return Err(ExportError::retryable(
            "compressing failed",
            "the export pipeline stopped",
        ));
    }
    let count = chain.count;
    chain
        .inner
        .finish()
        .and_then(|mut out| out.send())
        .map_err(|e| ExportError::retryable("compressing failed", e.to_string()))?;
    Ok(count)
}

mod chunks;
#[cfg(test)]
mod tests;
