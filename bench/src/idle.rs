//! Idle: the daemon's CPU with 10,000 enabled tasks.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::*;

pub(crate) fn idle_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("idle");
    let _ = std::fs::remove_dir_all(&dir);
    let daemon = Daemon::start(o, &dir, None)?;
    let mut c = daemon.client();
    let conn = c.managed_connection()?;
    // Daily tasks: the first window of each ends at the next midnight UTC, so none is due
    // during the measurement.
    // Identical tasks, which never run during the measurement: they share their output
    // knowingly (without the opt-in the second would be refused with a 409).
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "daily",
        "enabled": true, "job_config": {"key_prefix": "idle", "compression": "gzip",
            "allow_shared_output": true}})
    .to_string();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (next, addr, body) = (next.clone(), daemon.addr, body.clone());
            std::thread::spawn(move || -> Res<()> {
                let mut c = Http::new(addr);
                let mut out = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < IDLE_TASKS {
                    let status = c.send(
                        "POST",
                        "/v1/tasks/scheduled",
                        Some(body.as_bytes()),
                        &mut out,
                    )?;
                    if status != 201 {
                        return Err(format!(
                            "creating a task: HTTP {status} {}",
                            String::from_utf8_lossy(&out)
                        ));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a task thread panicked")??;
    }
    eprintln!(
        "exportd-bench: created {} enabled tasks in {:.1} s",
        thousands(IDLE_TASKS as u64),
        started.elapsed().as_secs_f64()
    );
    drop(c);
    std::thread::sleep(Duration::from_secs(5));
    let hz = clock_ticks()?;
    let seconds = o.idle_seconds;
    for i in 0..o.runs {
        let before = daemon.cpu_ticks()?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let ticks = daemon.cpu_ticks()? - before;
        let percent = ticks as f64 / hz / t0.elapsed().as_secs_f64() * 100.0;
        eprintln!(
            "exportd-bench: idle run {} of {}: {ticks} ticks in {seconds} s = {percent:.2} % of one core",
            i + 1,
            o.runs
        );
        results.add(
            &format!(
                "idle CPU with {} enabled tasks (utime+stime over {seconds} s, % of one core)",
                thousands(IDLE_TASKS as u64)
            ),
            Unit::Percent,
            percent,
            "< 1 %",
        );
    }
    Ok(())
}
