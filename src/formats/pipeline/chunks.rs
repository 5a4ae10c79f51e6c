//! The bounded channels between the threads of [`super::Pipeline::parallel`]: chunks of bytes
//! one way, their emptied buffers back.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Sends what is written to another thread in chunks of `size` bytes (the last one shorter),
/// through a bounded channel. Emptied buffers come back to be filled again, so buffers are
/// allocated only until the pipeline runs full, and what is queued stays within the channel's
/// length times `size`.
pub(crate) struct ChunkSender {
    chunk: Vec<u8>,
    size: usize,
    full: SyncSender<Vec<u8>>,
    empty: Receiver<Vec<u8>>,
    /// Set when the data will not be used: writes are then dropped.
    stopped: bool,
}

impl ChunkSender {
    fn new(size: usize, full: SyncSender<Vec<u8>>, empty: Receiver<Vec<u8>>) -> Self {
        let size = size.max(1);
        ChunkSender {
            chunk: Vec::with_capacity(size),
            size,
            full,
            empty,
            stopped: false,
        }
    }

    /// From now on the data will not be used: later writes are dropped.
    pub(super) fn stop(&mut self) {
        self.stopped = true;
    }

    /// Sends what is buffered.
    pub(super) fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() || self.stopped {
            return Ok(());
        }
        let capacity = self.chunk.capacity();
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(capacity));
        let full = std::mem::replace(&mut self.chunk, next);
        self.full
            .send(full)
            .map_err(|_| io::Error::other("the export pipeline stopped taking data"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.stopped {
            return Ok(data.len());
        }
        // Never full: a full chunk has been sent.
        let room = self.size - self.chunk.len();
        let take = room.min(data.len());
        self.chunk.extend_from_slice(&data[..take]);
        if self.chunk.len() == self.size {
            self.send()?;
        }
        Ok(take)
    }

    /// Chunks go when they are big enough, and the last one when the sender is done.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A channel of chunks and the way back for their emptied buffers.
pub(super) fn chunk_channel(
    queued: usize,
    size: usize,
) -> (ChunkSender, Receiver<Vec<u8>>, Sender<Vec<u8>>) {
    let (full_tx, full_rx) = sync_channel(queued);
    let (empty_tx, empty_rx) = channel();
    (ChunkSender::new(size, full_tx, empty_rx), full_rx, empty_tx)
}

/// Writes every chunk that arrives to `out` (until the sender is done, or a write fails) and
/// sends the emptied buffers back.
pub(super) fn drain(
    chunks: Receiver<Vec<u8>>,
    back: &Sender<Vec<u8>>,
    mut out: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    for mut chunk in chunks.iter() {
        out(&chunk)?;
        chunk.clear();
        // The sender may be gone already; then the buffer is simply dropped.
        let _ = back.send(chunk);
    }
    Ok(())
    // Dropping `chunks` here makes a sender still sending fail, so it stops.
}
