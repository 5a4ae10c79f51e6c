//! API: `GET /v1/tasks/scheduled/{id}` in a closed loop, and its latency at a fixed rate.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::*;

/// Latency percentile of sorted microseconds, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// `connections` clients, each with a request answered, opened one after another, so that
/// connection setup (a thread per connection) is not part of what is measured.
pub(crate) fn connected(addr: SocketAddr, path: &str, connections: usize) -> Res<Vec<Http>> {
    (0..connections)
        .map(|_| {
            let mut c = Http::new(addr);
            let (status, _) = c.request("GET", path, None)?;
            if status != 200 {
                return Err(format!("GET {path}: HTTP {status}"));
            }
            Ok(c)
        })
        .collect()
}

/// Closed loop: `connections` clients each send the next request as soon as the last one is
/// answered, for `duration`; returns requests/s.
pub(crate) fn closed_loop(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> Res<f64> {
    let clients = connected(addr, path, connections)?;
    let started = Instant::now();
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let path = path.to_owned();
            std::thread::spawn(move || -> Res<u64> {
                let mut out = Vec::new();
                let mut n = 0;
                while started.elapsed() < duration {
                    let status = c.send("GET", &path, None, &mut out)?;
                    if status != 200 {
                        return Err(format!("GET {path}: HTTP {status}"));
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for t in threads {
        total += t.join().map_err(|_| "a load thread panicked")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at a fixed total rate over `connections` clients; each latency is measured from
/// when the request was due, so a stall counts for every request it delays. Returns the
/// sorted latencies in microseconds and the rate achieved.
pub(crate) fn fixed_rate(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    rate: u64,
    duration: Duration,
) -> Res<(Vec<u64>, f64)> {
    let per_conn = Duration::from_nanos(1_000_000_000 * connections as u64 / rate);
    let count = (duration.as_secs_f64() * rate as f64 / connections as f64) as u64;
    let clients = connected(addr, path, connections)?;
    let started = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(k, mut c)| {
            let path = path.to_owned();
            std::thread::spawn(move || -> Res<Vec<u64>> {
                let mut out = Vec::new();
                let offset = per_conn * k as u32 / connections as u32;
                let mut latencies = Vec::with_capacity(count as usize);
                for i in 0..count {
                    let due = started + offset + per_conn * i as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let status = c.send("GET", &path, None, &mut out)?;
                    if status != 200 {
                        return Err(format!("GET {path}: HTTP {status}"));
                    }
                    latencies.push(due.elapsed().as_micros() as u64);
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().map_err(|_| "a load thread panicked")??);
    }
    let achieved = all.len() as f64 / (Instant::now() - started).as_secs_f64();
    all.sort_unstable();
    Ok((all, achieved))
}

pub(crate) fn api_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("api");
    let _ = std::fs::remove_dir_all(&dir);
    let daemon = Daemon::start(o, &dir, None)?;
    let mut c = daemon.client();
    let conn = c.managed_connection()?;
    let task = c.create(
        "/v1/tasks/scheduled",
        json!({"connection_id": conn, "entity_type": "events", "interval": "hourly",
            "enabled": true, "job_config": {"key_prefix": "api", "compression": "gzip"}}),
    )?;
    let path = format!("/v1/tasks/scheduled/{task}");
    // Warm up connections and caches.
    closed_loop(daemon.addr, &path, 4, Duration::from_secs(1))?;
    for i in 0..o.runs {
        let rps = closed_loop(daemon.addr, &path, 8, Duration::from_secs(5))?;
        let (lat, achieved) = fixed_rate(daemon.addr, &path, 8, API_RATE, Duration::from_secs(10))?;
        let (p50, p99, max) = (
            percentile_ms(&lat, 0.50),
            percentile_ms(&lat, 0.99),
            percentile_ms(&lat, 1.0),
        );
        eprintln!(
            "exportd-bench: API run {} of {}: {rps:.0} req/s closed loop; at {achieved:.0} req/s p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            i + 1,
            o.runs
        );
        results.add(
            "API: GET /v1/tasks/scheduled/{id} requests/s (8 connections, closed loop)",
            Unit::PerSecond,
            rps,
            "",
        );
        results.add(
            "API: p50 latency at 2,000 req/s (8 connections, open loop)",
            Unit::Millis,
            p50,
            "",
        );
        results.add(
            "API: p99 latency at 2,000 req/s (8 connections, open loop)",
            Unit::Millis,
            p99,
            "< 5 ms",
        );
    }
    Ok(())
}
