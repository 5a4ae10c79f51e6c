//! The thread that encodes a [`ParquetWriter`](super::ParquetWriter)'s batches: it holds the
//! file and the open row group's column writers, encodes and compresses each batch of staged
//! rows into pages, appends the column chunks when a row group ends and writes the footer.
//!
//! Encoding and compressing a batch costs about as much as reading and staging it, so on a
//! thread of its own the two overlap: a Parquet export of 1M bench events to SeaweedFS went
//! from 4.9 s (1.04x the gzip CSV export) to 3.7 s (0.78-0.92x).
//! The writer and the thread take turns with one batch each: a batch goes over, the batch
//! before comes back emptied, so the staging vectors are reused and memory stays bounded.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use ::parquet::file::writer::SerializedFileWriter;

use super::chunk::Chunk;
use super::{Buffer, Column, ParquetError};

pub(super) enum Job {
    /// Staged rows to encode (the buffers come back emptied); with `end_group`, the row group
    /// ends after them.
    Batch {
        buffers: Vec<Buffer>,
        rows: usize,
        end_group: bool,
    },
    /// Write the footer: the file is complete.
    Finish,
}

/// A batch back from the encoder.
pub(super) struct Done {
    pub(super) buffers: Vec<Buffer>,
    /// Bytes of the open row group's pages, and their allocation.
    pub(super) encoded: usize,
    pub(super) allocated: usize,
}

/// The writer's end of the encoding thread.
pub(super) struct Encoder<W: Write + Send + 'static> {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<Result<W, ParquetError>>>,
}

impl<W: Write + Send + 'static> Encoder<W> {
    pub(super) fn start(
        file: SerializedFileWriter<W>,
        columns: Vec<Column>,
    ) -> Result<Encoder<W>, ParquetError> {
        let (jobs, jobs_in) = sync_channel(1);
        let (done_out, done) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("export-parquet".into())
            .spawn(move || {
                let group = Group {
                    file,
                    columns,
                    chunks: Vec::new(),
                };
                group.run(jobs_in, done_out)
            })
            .map_err(|e| failed(format!("could not start the encoding thread: {e}")))?;
        Ok(Encoder {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    pub(super) fn send(&mut self, job: Job) -> Result<(), ParquetError> {
        match self.jobs.as_ref().map(|jobs| jobs.send(job)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.failure()),
        }
    }

    /// The batch sent last, once encoded.
    pub(super) fn receive(&mut self) -> Result<Done, ParquetError> {
        self.done.recv().map_err(|_| self.failure())
    }

    /// Writes the footer and gives the file's writer back.
    pub(super) fn finish(mut self) -> Result<W, ParquetError> {
        self.send(Job::Finish)?;
        self.join()
    }

    /// Why the thread stopped: it only stops early on an error, which it returns.
    fn failure(&mut self) -> ParquetError {
        match self.join() {
            Err(e) => e,
            Ok(_) => failed("the encoding thread was already gone".into()),
        }
    }

    /// Ends the jobs and waits for the thread's answer.
    fn join(&mut self) -> Result<W, ParquetError> {
        self.jobs = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(failed("the encoding thread panicked".into())),
            None => Err(failed("the encoding thread was already gone".into())),
        }
    }
}

impl<W: Write + Send + 'static> Drop for Encoder<W> {
    /// A file given up: the thread sees its jobs end, stops without a footer, and is waited
    /// for, so that nothing is written after the writer is gone.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn failed(problem: String) -> ParquetError {
    ParquetError::Write(::parquet::errors::ParquetError::General(problem))
}

/// The thread's side: the file and the open row group.
struct Group<W: Write + Send> {
    file: SerializedFileWriter<W>,
    columns: Vec<Column>,
    /// The open row group's column chunks (none before its first batch).
    chunks: Vec<Chunk>,
}

impl<W: Write + Send> Group<W> {
    fn run(mut self, jobs: Receiver<Job>, done: SyncSender<Done>) -> Result<W, ParquetError> {
        while let Ok(job) = jobs.recv() {
            match job {
                Job::Batch {
                    mut buffers,
                    rows,
                    end_group,
                } => {
                    if rows > 0 {
                        self.encode(&mut buffers, rows)?;
                    }
                    if end_group {
                        self.end_group()?;
                    }
                    let back = Done {
                        buffers,
                        encoded: self.chunks.iter().map(Chunk::bytes).sum(),
                        allocated: self.chunks.iter().map(Chunk::allocated).sum(),
                    };
                    if done.send(back).is_err() {
                        break;
                    }
                }
                Job::Finish => {
                    // The writer ended the last row group before.
                    return Ok(self.file.into_inner()?);
                }
            }
        }
        Err(failed("the file was given up".into()))
    }

    /// Hands the staged rows to the row group's column writers (opened by the first batch).
    fn encode(&mut self, buffers: &mut [Buffer], rows: usize) -> Result<(), ParquetError> {
        if self.chunks.is_empty() {
            let schema = self.file.schema_descr();
            let properties = self.file.properties();
            self.chunks = (0..self.columns.len())
                .map(|i| Chunk::new(schema.column(i), properties.clone()))
                .collect();
        }
        let staged = self.columns.iter().zip(buffers);
        for ((column, buffer), chunk) in staged.zip(&mut self.chunks) {
            buffer.write_to(column, rows, &mut chunk.writer)?;
        }
        Ok(())
    }

    /// Ends the row group: its column chunks go into the file one after the other.
    fn end_group(&mut self) -> Result<(), ParquetError> {
        let mut group = self.file.next_row_group()?;
        for chunk in self.chunks.drain(..) {
            chunk.append_to(&mut group)?;
        }
        group.close()?;
        Ok(())
    }
}
