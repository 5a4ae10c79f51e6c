//! One column chunk of the row group being written, encoded and compressed as its values
//! arrive. The `parquet` crate's column writer hands its finished pages to [`Pages`], an
//! in-memory buffer; when the row group ends, the chunks are appended to the file one after
//! the other. A row group is thus held as compressed pages, not as cells: for the same memory
//! it holds several times the rows, so each column's dictionary serves more rows and the file
//! is smaller.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use ::parquet::column::page::{CompressedPage, PageWriteSpec, PageWriter};
use ::parquet::column::writer::{ColumnWriter, get_column_writer};
use ::parquet::errors::Result;
use ::parquet::file::properties::WriterPropertiesPtr;
use ::parquet::file::reader::{ChunkReader, Length};
use ::parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use ::parquet::schema::types::ColumnDescPtr;
use bytes::Bytes;

pub(super) struct Chunk {
    pub(super) writer: ColumnWriter<'static>,
    pages: Pages,
}

impl Chunk {
    pub(super) fn new(column: ColumnDescPtr, properties: WriterPropertiesPtr) -> Chunk {
        let pages = Pages::default();
        let sink = Box::new(PageSink(TrackedWrite::new(pages.clone())));
        Chunk {
            writer: get_column_writer(column, properties, sink),
            pages,
        }
    }

    /// Bytes of the pages finished so far (a dictionary-encoded column keeps its pages in
    /// the column writer until the chunk ends, beside its dictionary).
    pub(super) fn bytes(&self) -> usize {
        self.pages.with(|p| p.iter().map(Vec::len).sum())
    }

    pub(super) fn allocated(&self) -> usize {
        self.pages.with(|p| p.iter().map(Vec::capacity).sum())
    }

    /// Ends the chunk (the rest of its pages, its statistics) and appends it to the row group.
    pub(super) fn append_to<W: Write + Send>(
        self,
        group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        let close = self.writer.close()?;
        let pieces = self.pages.with(std::mem::take);
        group.append_column(
            &Pieces(pieces.into_iter().map(Bytes::from).collect()),
            close,
        )
    }
}

/// The encoded pages of one chunk, shared by the [`Chunk`] and the page writer its column
/// writer owns: a piece per write (a page's header, its body), each allocated to its size,
/// so that the bytes held are the bytes of the pages.
#[derive(Clone, Default)]
struct Pages(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pages {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<Vec<u8>>) -> T) -> T {
        // Only this thread ever holds the lock: a poisoned one still holds whole pages.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Pages {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Exactly the bytes written: a header or page in a larger piece would waste the rest.
        self.with(|pieces| pieces.push(data.to_vec()));
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A finished chunk's pieces, read back in order as the row group appends them.
struct Pieces(Vec<Bytes>);

impl Length for Pieces {
    fn len(&self) -> u64 {
        self.0.iter().map(|p| p.len() as u64).sum()
    }
}

impl ChunkReader for Pieces {
    type T = PiecesRead;

    fn get_read(&self, start: u64) -> Result<PiecesRead> {
        let mut read = PiecesRead {
            pieces: self.0.clone().into_iter(),
            current: Bytes::new(),
        };
        io::copy(&mut (&mut read).take(start), &mut io::sink())?;
        Ok(read)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut out = Vec::with_capacity(length);
        self.get_read(start)?
            .take(length as u64)
            .read_to_end(&mut out)?;
        Ok(Bytes::from(out))
    }
}

struct PiecesRead {
    pieces: std::vec::IntoIter<Bytes>,
    current: Bytes,
}

impl Read for PiecesRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.next() {
                Some(piece) => self.current = piece,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Writes each page (its header, then its bytes) into [`Pages`], as the crate's own page writer
/// writes them into a file.
struct PageSink(TrackedWrite<Pages>);

impl PageWriter for PageSink {
    fn write_page(&mut self, page: CompressedPage) -> Result<PageWriteSpec> {
        SerializedPageWriter::new(&mut self.0).write_page(page)
    }

    fn close(&mut self) -> Result<()> {
        Ok(self.0.flush()?)
    }
}
