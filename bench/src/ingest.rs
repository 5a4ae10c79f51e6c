//! Ingest: events/s through `POST /v1/events/bulk`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::*;

/// Request bodies of 1000 events each: with `client_ids`, each event carries its own random
/// `event_id` (a UUID) and a `timestamp` up to two minutes before it is sent; without, the
/// events name neither, and exportd gives them time-ordered ids and the time of arrival.
pub(crate) fn bulk_bodies(count: usize, client_ids: bool) -> Vec<Vec<u8>> {
    let mut r = Rng(0x5151_5151_0000_0001);
    let mut e = GenEvent::new();
    let base = jiff::Timestamp::now().as_millisecond() - 3_600_000;
    (0..count)
        .map(|_| {
            let mut body = String::with_capacity(EVENTS_PER_REQUEST * 300);
            body.push_str("{\"events\":[");
            for i in 0..EVENTS_PER_REQUEST {
                e.fill(&mut r);
                if i > 0 {
                    body.push(',');
                }
                let source = e
                    .source
                    .map(|s| format!(",\"source\":\"{s}\""))
                    .unwrap_or_default();
                let client = if client_ids {
                    format!(
                        r#""event_id":"{}","timestamp":"{}","#,
                        e.id,
                        rfc3339(base - e.lateness_ms)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    body,
                    r#"{{{client}"event_name":"{}","external_customer_id":"{}"{source},"properties":{}}}"#,
                    e.name, e.customer, e.properties
                );
            }
            body.push_str("]}");
            body.into_bytes()
        })
        .collect()
}

pub(crate) fn ingest_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    for client_ids in [true, false] {
        ingest_runs(o, work, results, client_ids)?;
    }
    Ok(())
}

pub(crate) fn ingest_runs(
    o: &Opts,
    work: &Path,
    results: &mut Results,
    client_ids: bool,
) -> Res<()> {
    const REQUESTS: usize = 300;
    const CONNECTIONS: usize = 4;
    let bodies = Arc::new(bulk_bodies(REQUESTS, client_ids));
    let kind = if client_ids {
        "events with their own random event_id and timestamp"
    } else {
        "events without event_id or timestamp"
    };
    for i in 0..o.runs {
        let dir = work.join("ingest");
        let _ = std::fs::remove_dir_all(&dir);
        let daemon = Daemon::start(o, &dir, None)?;
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (bodies, next, addr) = (bodies.clone(), next.clone(), daemon.addr);
                std::thread::spawn(move || -> Res<()> {
                    let mut c = Http::new(addr);
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else {
                            return Ok(());
                        };
                        let status = c.send("POST", "/v1/events/bulk", Some(body), &mut out)?;
                        if status != 202 {
                            return Err(format!(
                                "bulk ingest: HTTP {status} {}",
                                String::from_utf8_lossy(&out)
                            ));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| "an ingest thread panicked")??;
        }
        let secs = started.elapsed().as_secs_f64();
        let events = (REQUESTS * EVENTS_PER_REQUEST) as f64;
        eprintln!(
            "exportd-bench: ingest run {} of {} ({kind}): {:.0} events/s",
            i + 1,
            o.runs,
            events / secs
        );
        results.add(
            &format!(
                "ingest: events/s via POST /v1/events/bulk ({EVENTS_PER_REQUEST} per request, {CONNECTIONS} connections), {kind}"
            ),
            Unit::PerSecond,
            events / secs,
            "≥ 100,000 /s",
        );
        drop(daemon);
    }
    Ok(())
}
