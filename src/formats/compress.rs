//! Compression of an export's bytes: none, gzip or zstd, in front of any writer.
//!
//! gzip runs on a small pool of threads, as pigz does: the input is cut into blocks of
//! [`GZIP_BLOCK`] bytes, each deflated on its own with the previous 32 KiB of input as its
//! dictionary and ended with a sync flush (the last one with the end of the stream). The blocks
//! are written in order between a gzip header and a trailer whose CRC-32 is combined from the
//! blocks'. The result is one ordinary gzip member. The stored bytes depend only on the input
//! and the level: not on how the input is cut into writes, nor on how many threads compress.
//! Blocks are handed out and written on the caller's thread, so the writer below does not need
//! to be `Send`, and at most a few blocks are in flight.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use crate::scheduled_tasks::job_config::{self, JobConfig};

/// How an export's bytes are compressed, with the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    /// Level 1-9.
    Gzip(u32),
    /// Level 1-19.
    Zstd(i32),
}

impl Codec {
    /// The codec around the file's bytes: none for Parquet, which compresses inside.
    pub(crate) fn of(job: &JobConfig) -> Codec {
        let level = job.compression_level;
        if job.format == job_config::Format::Parquet {
            return Codec::None;
        }
        match job.compression {
            // snappy is for Parquet only (refused for CSV when a task is made).
            job_config::Compression::None | job_config::Compression::Snappy => Codec::None,
            job_config::Compression::Gzip => Codec::Gzip(u32::from(level)),
            job_config::Compression::Zstd => Codec::Zstd(i32::from(level)),
        }
    }
}

/// Compression threads of one export: one per core (the reading thread shares them).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(8))
}

/// The bytes as they are, gzip or zstd, in front of `W`.
pub(crate) enum Compressor<W: Write> {
    Plain(W),
    // Boxed: the encoders' state makes them much larger than the plain variant.
    Gzip(Box<ParGzip<W>>),
    Zstd(Box<zstd::stream::write::Encoder<'static, W>>),
}

impl<W: Write> Compressor<W> {
    pub(crate) fn new(inner: W, codec: Codec) -> io::Result<Compressor<W>> {
        Ok(match codec {
            Codec::None => Compressor::Plain(inner),
            Codec::Gzip(level) => Compressor::Gzip(Box::new(ParGzip::new(inner, level, threads()))),
            Codec::Zstd(level) => {
                Compressor::Zstd(Box::new(zstd_encoder(inner, level, threads() as u32)?))
            }
        })
    }

    pub(crate) fn get_mut(&mut self) -> &mut W {
        match self {
            Compressor::Plain(w) => w,
            Compressor::Gzip(gz) => gz.get_mut(),
            Compressor::Zstd(z) => z.get_mut(),
        }
    }

    /// Ends the stream (the gzip trailer, the zstd epilogue) and returns the writer below.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Plain(w) => Ok(w),
            Compressor::Gzip(gz) => gz.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(w) => w.write(data),
            Compressor::Gzip(w) => w.write(data),
            Compressor::Zstd(w) => w.write(data),
        }
    }

    /// A flush would end a block early and change the stored bytes: never.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Jobs of zstd's worker threads. Its default for level 3 is 8 MiB, and with two workers it
/// held 41 MiB; with 1 MiB jobs, 10 MiB.
const ZSTD_JOB: u32 = 1024 * 1024;

/// A zstd encoder at `level` that compresses on `workers` threads of libzstd's own (the
/// writing thread only hands data over), with the frame checksum that `zstd -t` and every
/// decoder check. With one or more workers the output is cut into jobs of [`ZSTD_JOB`] bytes,
/// so it depends on the input alone, not on how it is cut into writes.
fn zstd_encoder<W: Write>(
    inner: W,
    level: i32,
    workers: u32,
) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    use zstd::zstd_safe::CParameter;
    let mut zstd = zstd::stream::write::Encoder::new(inner, level)?;
    zstd.include_checksum(true)?;
    zstd.multithread(workers.max(1))?;
    zstd.set_parameter(CParameter::JobSize(ZSTD_JOB))?;
    Ok(zstd)
}

/// Input deflated as one block. pigz uses 128 KiB; each block also pays for a new
/// compressor (about 1% of deflating 128 KiB, see [`deflate_block`]) and for hashing its
/// 32 KiB dictionary into the chains, so 512 KiB blocks made the gzip export of 1M bench events 6% cheaper in CPU (8 alternating
/// runs) and 0.05% smaller, for about 5 MiB more in flight with two threads.
pub(crate) const GZIP_BLOCK: usize = 512 * 1024;
/// Deflate's window: each block starts with the 32 KiB before it as its dictionary.
const DICT: usize = 32 * 1024;

/// A gzip encoder that deflates blocks on `threads` threads. Dropping it without
/// [`ParGzip::finish`] writes nothing more.
pub(crate) struct ParGzip<W: Write> {
    out: W,
    blocks: Blocks,
}

/// What a [`ParGzip`] keeps apart from its writer.
struct Blocks {
    level: Compression,
    threads: usize,
    /// The block being filled: its dictionary (`dict_len` bytes), then new input.
    block: Vec<u8>,
    dict_len: usize,
    /// Started at the first full block, so that a small export spawns no thread.
    pool: Option<Pool>,
    /// Blocks handed out, oldest first: each answers on its own channel.
    in_flight: VecDeque<Receiver<io::Result<Deflated>>>,
    /// Emptied buffers, to be filled again.
    spare: Vec<Vec<u8>>,
    crc: Crc,
    header_written: bool,
}

struct Job {
    input: Vec<u8>,
    dict_len: usize,
    last: bool,
    output: Vec<u8>,
    reply: SyncSender<io::Result<Deflated>>,
}

struct Deflated {
    input: Vec<u8>,
    output: Vec<u8>,
    crc: Crc,
}

impl<W: Write> ParGzip<W> {
    pub(crate) fn new(out: W, level: u32, threads: usize) -> ParGzip<W> {
        ParGzip {
            out,
            blocks: Blocks {
                level: Compression::new(level),
                threads: threads.max(1),
                block: Vec::new(),
                dict_len: 0,
                pool: None,
                in_flight: VecDeque::new(),
                spare: Vec::new(),
                crc: Crc::new(),
                header_written: false,
            },
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Deflates the last block, writes what is still in flight and the trailer, and returns
    /// the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.write_header()?;
        if self.blocks.pool.is_none() {
            // Nothing handed out yet: the whole input is this block, deflated here.
            let mut output = Vec::new();
            let b = &mut self.blocks;
            let crc = deflate_block(b.level, &b.block, b.dict_len, true, &mut output)?;
            b.crc.combine(&crc);
            self.out.write_all(&output)?;
        } else {
            self.hand_out(true)?;
            while !self.blocks.in_flight.is_empty() {
                self.write_oldest()?;
            }
        }
        let b = &self.blocks;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&b.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&b.crc.amount().to_le_bytes());
        self.out.write_all(&trailer)?;
        let ParGzip { out, blocks } = self;
        drop(blocks);
        Ok(out)
    }

    /// The member header: no name, no time (the bytes depend on the input alone), and the
    /// extra flags and OS byte that flate2's encoder writes.
    fn write_header(&mut self) -> io::Result<()> {
        if self.blocks.header_written {
            return Ok(());
        }
        self.blocks.header_written = true;
        let level = self.blocks.level.level();
        let xfl = match level {
            9.. => 2,
            0..=1 => 4,
            _ => 0,
        };
        self.out
            .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])
    }

    /// Hands the block being filled to the pool, then writes the blocks that are done.
    fn hand_out(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        if self.blocks.in_flight.len() >= 2 * self.blocks.threads {
            self.write_oldest()?;
        }
        let b = &mut self.blocks;
        let mut next = b
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(DICT + GZIP_BLOCK));
        next.clear();
        // The next block's dictionary: the last 32 KiB of the stream so far.
        let tail = b.block.len().min(DICT);
        next.extend_from_slice(&b.block[b.block.len() - tail..]);
        let input = std::mem::replace(&mut b.block, next);
        let dict_len = std::mem::replace(&mut b.dict_len, tail);
        let output = b.spare.pop().unwrap_or_default();
        let (reply, answer) = sync_channel(1);
        let job = Job {
            input,
            dict_len,
            last,
            output,
            reply,
        };
        let pool = match &mut b.pool {
            Some(pool) => pool,
            None => b.pool.insert(Pool::start(b.threads, b.level)?),
        };
        pool.send(job)?;
        b.in_flight.push_back(answer);
        // Write what is already done, without waiting.
        loop {
            match self.blocks.in_flight.front().map(Receiver::try_recv) {
                Some(Ok(done)) => {
                    self.blocks.in_flight.pop_front();
                    self.write_deflated(done)?;
                }
                Some(Err(TryRecvError::Disconnected)) => return Err(stopped()),
                Some(Err(TryRecvError::Empty)) | None => return Ok(()),
            }
        }
    }

    /// Waits for the oldest block in flight and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(answer) = self.blocks.in_flight.pop_front() else {
            return Ok(());
        };
        let done = answer.recv().map_err(|_| stopped())?;
        self.write_deflated(done)
    }

    fn write_deflated(&mut self, done: io::Result<Deflated>) -> io::Result<()> {
        let done = done?;
        self.blocks.crc.combine(&done.crc);
        self.out.write_all(&done.output)?;
        self.blocks.spare.extend([done.input, done.output]);
        Ok(())
    }
}

impl<W: Write> Write for ParGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let b = &mut self.blocks;
        let room = b.dict_len + GZIP_BLOCK - b.block.len();
        let take = room.min(data.len());
        b.block.extend_from_slice(&data[..take]);
        if b.block.len() == b.dict_len + GZIP_BLOCK {
            self.hand_out(false)?;
        }
        Ok(take)
    }

    /// A flush would end a block early and change the stored bytes: never.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn stopped() -> io::Error {
    io::Error::other("a gzip compressing thread stopped")
}

/// The compressing threads of one [`ParGzip`]; dropping it ends and joins them.
struct Pool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn start(threads: usize, level: Compression) -> io::Result<Pool> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut pool = Pool {
            jobs: Some(jobs),
            workers: Vec::with_capacity(threads),
        };
        for _ in 0..threads {
            let queue = queue.clone();
            let worker = std::thread::Builder::new()
                .name("export-deflate".into())
                .spawn(move || deflate_jobs(&queue, level))?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    fn send(&self, job: Job) -> io::Result<()> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(stopped)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A compressing thread: deflates the blocks it is given until the pool is dropped.
fn deflate_jobs(queue: &Mutex<Receiver<Job>>, level: Compression) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(mut job) = job else {
            return;
        };
        let result =
            deflate_block(level, &job.input, job.dict_len, job.last, &mut job.output).map(|crc| {
                Deflated {
                    input: job.input,
                    output: job.output,
                    crc,
                }
            });
        // The encoder may be gone (abandoned); then the result is not needed.
        let _ = job.reply.send(result);
    }
}

/// Deflates `input[dict_len..]` into `output` as raw deflate blocks, with `input[..dict_len]`
/// as the dictionary, ending with a sync flush, or with the end of the stream when `last`.
/// Returns the CRC-32 of the new input.
///
/// Each block gets a fresh compressor: a reset one keeps the links of its hash chains, which
/// can steer it to other (valid) matches, and the bytes would depend on which thread took
/// which block before. A new one costs about 1% of deflating 128 KiB (measured at level 6).
fn deflate_block(
    level: Compression,
    input: &[u8],
    dict_len: usize,
    last: bool,
    output: &mut Vec<u8>,
) -> io::Result<Crc> {
    let mut deflate = Compress::new(level, false);
    if dict_len > 0 {
        deflate
            .set_dictionary(&input[..dict_len])
            .map_err(io::Error::other)?;
    }
    let data = &input[dict_len..];
    output.clear();
    // Room for incompressible input (stored blocks) and the flush marker, so that one call
    // normally does it all.
    output.reserve(data.len() + data.len() / 8 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let start = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start) as usize;
        let before = (consumed, output.len());
        let status = deflate
            .compress_vec(&data[consumed..], output, flush)
            .map_err(io::Error::other)?;
        let consumed = (deflate.total_in() - start) as usize;
        let room = output.len() < output.capacity();
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete when all input is in and there was room left.
            Status::Ok | Status::BufError if !last && consumed == data.len() && room => break,
            _ if !room => output.reserve(64 * 1024),
            _ if (consumed, output.len()) == before => {
                return Err(io::Error::other("deflate made no progress"));
            }
            _ => {}
        }
    }
    let mut crc = Crc::new();
    crc.update(data);
    Ok(crc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Text that compresses like CSV, with enough variety that block boundaries matter.
    fn sample(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 64);
        let mut i = 0u64;
        while out.len() < len {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            out.extend_from_slice(
                format!("{i},{x:016x},cus_{},\"a, b\",{}\n", x % 977, x % 13).as_bytes(),
            );
            i += 1;
        }
        out.truncate(len);
        out
    }

    /// Compresses `input` written in pieces of the given sizes (cycled) on `threads` threads.
    fn gzip(input: &[u8], level: u32, threads: usize, pieces: &[usize]) -> Vec<u8> {
        let mut gz = ParGzip::new(Vec::new(), level, threads);
        let mut rest = input;
        for size in pieces.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*size).min(rest.len()));
            gz.write_all(now).unwrap();
            rest = later;
        }
        gz.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // GzDecoder reads exactly one member and checks its CRC and length.
        let mut decoder = flate2::read::GzDecoder::new(gz);
        decoder.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn output_is_one_gzip_member_of_the_input_at_every_size() {
        for len in [
            0,
            1,
            DICT,
            GZIP_BLOCK - 1,
            GZIP_BLOCK,
            GZIP_BLOCK + 1,
            3 * GZIP_BLOCK,
            7 * GZIP_BLOCK + 12_345,
        ] {
            let input = sample(len);
            let gz = gzip(&input, 6, 2, &[65_536]);
            assert_eq!(&gz[..3], [0x1f, 0x8b, 8], "{len}");
            assert_eq!(gunzip(&gz), input, "{len}");
            let mut one_member = flate2::read::MultiGzDecoder::new(&gz[..]);
            let mut all = Vec::new();
            one_member.read_to_end(&mut all).unwrap();
            assert_eq!(all.len(), len, "nothing after the member: {len}");
        }
    }

    #[test]
    fn bytes_depend_on_the_input_alone() {
        // Enough blocks that threads take them in varying orders (a compressor reused from
        // block to block made different bytes here, from one run to the next).
        let input = sample(30 * GZIP_BLOCK + 777);
        for level in [1, 6, 9] {
            let reference = gzip(&input, level, 1, &[input.len()]);
            for (threads, pieces) in [
                (2, &[65_536][..]),
                (2, &[65_536][..]),
                (1, &[1usize, 7, 65_536, 300_000][..]),
                (2, &[65_536][..]),
                (3, &[13, 200_000][..]),
                (8, &[GZIP_BLOCK][..]),
            ] {
                assert_eq!(
                    gzip(&input, level, threads, pieces),
                    reference,
                    "level {level}, {threads} threads, pieces {pieces:?}"
                );
            }
            assert_eq!(gunzip(&reference), input);
        }
    }

    #[test]
    fn the_dictionary_keeps_the_ratio_of_one_stream() {
        let input = sample(40 * GZIP_BLOCK);
        let ours = gzip(&input, 6, 2, &[65_536]).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        one.write_all(&input).unwrap();
        let serial = one.finish().unwrap().len();
        // Each block adds its sync marker and restarts its Huffman tables: within 1%.
        assert!(
            (ours as f64) < serial as f64 * 1.01,
            "{ours} bytes, one stream {serial}"
        );
    }

    #[test]
    fn incompressible_input_round_trips() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let input: Vec<u8> = (0..3 * GZIP_BLOCK + 5)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let gz = gzip(&input, 9, 2, &[100_000]);
        assert_eq!(gunzip(&gz), input);
    }

    #[test]
    fn dropping_without_finish_writes_no_trailer_and_stops_the_threads() {
        let input = sample(5 * GZIP_BLOCK);
        let mut gz = ParGzip::new(Vec::new(), 6, 2);
        gz.write_all(&input).unwrap();
        let written = gz.get_mut().len();
        drop(gz);
        assert!(written < input.len());
    }

    #[test]
    fn zstd_output_depends_on_the_input_alone() {
        let input = sample(5 * ZSTD_JOB as usize + 17);
        let zstd = |pieces: usize, workers: u32| {
            let mut z = zstd_encoder(Vec::new(), 3, workers).unwrap();
            for piece in input.chunks(pieces) {
                z.write_all(piece).unwrap();
            }
            z.finish().unwrap()
        };
        let reference = zstd(input.len(), 1);
        for (pieces, workers) in [(1000, 2), (65_536, 2), (1_000_000, 4), (65_536, 1)] {
            assert_eq!(zstd(pieces, workers), reference, "{pieces} {workers}");
        }
        assert_eq!(zstd::stream::decode_all(&reference[..]).unwrap(), input);
        assert!(reference.len() < input.len() / 2);
    }
}
