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
    /// Whether the multipart upload was opened, and how many parts had been sent when its id
    /// was read.
    begun: bool,
    id_read_after: Option<usize>,
}

/// A recorder whose upload refuses part `n` (from 0).
fn failing_at_part(n: usize) -> RefCell<Recorder> {
    RefCell::new(Recorder {
        fail_part: Some(n),
        ..Default::default()
    })
}

/// The export failed with the refused part's error, and the upload was aborted: nothing after
/// the parts before it was sent, and nothing was finished.
fn assert_aborted_at_failed_part(err: &ExportError, rec: &RefCell<Recorder>, n: usize) {
    assert_eq!(err.summary, "part failed");
    let r = rec.borrow();
    assert_eq!(r.parts.len(), n);
    assert!(r.aborted && r.finished.is_none());
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
    fn begin(&mut self) -> Result<(), ExportError> {
        self.0.borrow_mut().begun = true;
        Ok(())
    }
    fn upload_id(&self) -> Option<&str> {
        let mut r = self.0.borrow_mut();
        if !r.begun {
            return None;
        }
        let sent = r.parts.len();
        r.id_read_after.get_or_insert(sent);
        Some("upload-1")
    }
    fn finish(self: Box<Self>, tail: &[u8]) -> Result<(), ExportError> {
        self.0.borrow_mut().finished = Some(tail.to_vec());
        Ok(())
    }
    fn abort(self: Box<Self>) {
        self.0.borrow_mut().aborted = true;
    }
}

/// A pipeline of 1000-byte parts into `rec`.
fn pipeline<'a>(
    codec: Codec,
    rec: &'a RefCell<Recorder>,
    cancel: &'a AtomicBool,
    on_upload_id: Box<dyn FnMut(&str) + 'a>,
) -> Pipeline<'a> {
    Pipeline::new(
        Box::new(Recording(rec)),
        PipelineOptions {
            part_size: 1000,
            compression: codec,
            cancel,
            on_upload_id,
        },
    )
}

fn run(
    rows: usize,
    codec: Codec,
    rec: &RefCell<Recorder>,
    cancel: &AtomicBool,
) -> (Result<Stored, ExportError>, Vec<String>) {
    let ids = Rc::new(RefCell::new(Vec::new()));
    let sink = ids.clone();
    let on_upload_id = Box::new(move |id: &str| sink.borrow_mut().push(id.to_owned()));
    let mut p = pipeline(codec, rec, cancel, on_upload_id);
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
    let (stored, ids) = run(3, Codec::None, &rec, &cancel);
    let stored = stored.unwrap();
    let r = rec.borrow();
    assert!(r.parts.is_empty() && ids.is_empty());
    assert_eq!(r.finished.as_deref(), Some(&expected_csv(3)[..]));
    assert_eq!(stored.uncompressed_bytes, expected_csv(3).len() as u64);
    assert_eq!(stored.sha256, to_hex(&Sha256::digest(expected_csv(3))));
    drop(r);

    let rec = RefCell::new(Recorder::default());
    let (stored, ids) = run(500, Codec::None, &rec, &cancel);
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
    assert_eq!(
        r.id_read_after,
        Some(0),
        "the id is recorded before the first part"
    );
    assert!(!r.aborted);
}

#[test]
fn gzip_output_decompresses_to_the_csv_and_sizes_are_both_counted() {
    let rec = RefCell::new(Recorder::default());
    let cancel = AtomicBool::new(false);
    let stored = run(2000, Codec::Gzip(6), &rec, &cancel).0.unwrap();
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
    let rec = failing_at_part(2);
    let cancel = AtomicBool::new(false);
    let err = run(500, Codec::None, &rec, &cancel).0.unwrap_err();
    assert_aborted_at_failed_part(&err, &rec, 2);
}

/// Row `i` of the parallel tests: text varied enough that a difference in how it is
/// compressed would show.
fn row(i: u64) -> [String; 3] {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    [
        i.to_string(),
        format!("{x:016x}-{}", x % 977),
        format!("a, \"quoted\" {} value", x % 13),
    ]
}

/// Header, then `rows` rows written on this thread, or (`parallel`) by a producer on the
/// reading thread; the producer stops early with an error at row `fail_at`.
fn run_rows(
    rows: u64,
    codec: Codec,
    parallel: bool,
    fail_at: Option<u64>,
    rec: &RefCell<Recorder>,
    cancel: &AtomicBool,
) -> Result<(Stored, u64), ExportError> {
    let mut p = pipeline(codec, rec, cancel, Box::new(|_| {}));
    p.records.write_record(["id", "key", "note"]).unwrap();
    let written = if parallel {
        p.parallel(|out| {
            let mut csv = crate::formats::csv::writer(out);
            for i in 0..rows {
                if fail_at == Some(i) {
                    return Err(ExportError::retryable("the database failed", "test"));
                }
                csv.write_record(row(i))
                    .map_err(crate::formats::csv::failed)?;
            }
            csv.flush()
                .map_err(|e| crate::formats::csv::failed(e.into()))?;
            Ok(rows)
        })
    } else {
        (0..rows)
            .try_for_each(|i| p.records.write_record(row(i)))
            .map(|()| rows)
            .map_err(|e| p.write_error(e))
    };
    match written {
        Ok(n) => p.finish().map(|stored| (stored, n)),
        Err(e) => {
            p.abandon(e.clone());
            Err(e)
        }
    }
}

fn object(rec: &RefCell<Recorder>) -> Vec<u8> {
    let r = rec.borrow();
    let mut all = r.parts.concat();
    all.extend_from_slice(r.finished.as_ref().expect("finished"));
    all
}

#[test]
fn parallel_stores_the_same_bytes_as_one_thread() {
    let cancel = AtomicBool::new(false);
    for codec in [
        Codec::Gzip(6),
        Codec::Gzip(1),
        Codec::None,
        Codec::Zstd(3),
        Codec::Zstd(19),
    ] {
        // 50,000 rows are about 30 gzip blocks.
        for rows in [0, 3, 50_000] {
            let one = RefCell::new(Recorder::default());
            let (stored_one, _) = run_rows(rows, codec, false, None, &one, &cancel).unwrap();
            let three = RefCell::new(Recorder::default());
            let (stored_three, n) = run_rows(rows, codec, true, None, &three, &cancel).unwrap();
            assert_eq!(n, rows);
            let digest = |rec: &RefCell<Recorder>| to_hex(&Sha256::digest(object(rec)));
            assert_eq!(digest(&one), digest(&three), "{codec:?} {rows}");
            assert_eq!(stored_one, stored_three, "{codec:?} {rows}");
            // And the same again: nothing depends on timing.
            let again = RefCell::new(Recorder::default());
            run_rows(rows, codec, true, None, &again, &cancel).unwrap();
            assert_eq!(digest(&again), digest(&three), "{codec:?} {rows}");
            let r = three.borrow();
            assert!(r.parts.iter().all(|p| p.len() == 1000));
            assert!(!r.aborted);
        }
    }
}

#[test]
fn a_failed_upload_stops_the_parallel_reader() {
    let rec = failing_at_part(2);
    let cancel = AtomicBool::new(false);
    let err = run_rows(1_000_000, Codec::Gzip(6), true, None, &rec, &cancel).unwrap_err();
    assert_aborted_at_failed_part(&err, &rec, 2);
}

#[test]
fn a_failed_read_aborts_the_upload_and_says_why() {
    let rec = RefCell::new(Recorder::default());
    let cancel = AtomicBool::new(false);
    let err = run_rows(50_000, Codec::Gzip(6), true, Some(40_000), &rec, &cancel).unwrap_err();
    assert_eq!(err.summary, "the database failed");
    let r = rec.borrow();
    assert!(r.aborted && r.finished.is_none());
}

#[test]
fn cancelling_a_parallel_export_interrupts_and_aborts() {
    let rec = RefCell::new(Recorder::default());
    let cancel = AtomicBool::new(true);
    let err = run_rows(20_000, Codec::Gzip(6), true, None, &rec, &cancel).unwrap_err();
    assert_eq!(err.summary, "interrupted by shutdown");
    assert!(rec.borrow().aborted && rec.borrow().finished.is_none());
}

#[test]
fn cancelling_interrupts_and_aborts() {
    let rec = RefCell::new(Recorder::default());
    let cancel = AtomicBool::new(true);
    let err = run(500, Codec::Gzip(1), &rec, &cancel).0.unwrap_err();
    assert_eq!(err.summary, "interrupted by shutdown");
    assert!(rec.borrow().aborted && rec.borrow().finished.is_none());
}
