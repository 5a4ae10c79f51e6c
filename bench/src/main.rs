//! exportd-bench: the benchmark behind `scripts/bench.sh` (SPEC 9). It drives the real
//! `exportd` binary and prints each figure as the median of several runs, with min and max:
//!
//! - export: N generated events as one window, gzip level 6 and zstd level 3, to a local
//!   SeaweedFS and to the directory destination, against `sqlite3 -csv | gzip -6 | aws s3 cp -`
//!   on the same rows and server, and against `gzip -6`, `pigz -6 -p 2` and `zstd -3` of the
//!   same CSV (the compression floors);
//! - ingest: events/s through `POST /v1/events/bulk`, 1000 events per request;
//! - API: `GET /v1/tasks/scheduled/{id}` closed-loop requests/s, and p99 at a fixed rate;
//! - idle: the daemon's CPU over a minute with 10,000 enabled tasks.
//!
//! It is a measuring tool, not part of the daemon: every failure ends it with a message.

use std::fmt::Write as _;

use std::path::PathBuf;
use std::time::Instant;

mod api;
mod daemon;
mod data;
mod export;
mod http;
mod idle;
mod ingest;
mod report;

pub(crate) use api::*;
pub(crate) use daemon::*;
pub(crate) use data::*;
pub(crate) use export::*;
pub(crate) use http::*;
pub(crate) use idle::*;
pub(crate) use ingest::*;
pub(crate) use report::*;

pub(crate) type Res<T> = Result<T, String>;

/// Adds what was being done to an error.
pub(crate) trait Context<T> {
    fn ctx(self, what: &str) -> Res<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Res<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

pub(crate) const KEY: &str = "exd_bench_key_0123456789abcdefghijklmnop";
pub(crate) const TENANT: &str = "bench";
pub(crate) const ENVIRONMENT: &str = "prod";
pub(crate) const BUCKET: &str = "exportd-bench";
pub(crate) const REGION: &str = "us-east-1";
/// The exported window: one day, starting 2025-10-16T00:00:00Z.
pub(crate) const WINDOW_START: i64 = 1_760_572_800_000;
pub(crate) const WINDOW_END: i64 = WINDOW_START + 86_400_000;
pub(crate) const CUSTOMERS: u64 = 10_000;
pub(crate) const EVENTS_PER_REQUEST: usize = 1000;
pub(crate) const IDLE_TASKS: usize = 10_000;
pub(crate) const API_RATE: u64 = 2000;

pub(crate) const USAGE: &str = "\
usage: exportd-bench [--rows N] [--runs K] [--only export,ingest,api,idle] [--idle-seconds S]
                     --exportd PATH --test-python PATH --aws PATH [--sqlite3 PATH] [--work DIR] [--out FILE]
Normally run through scripts/bench.sh, which builds exportd and installs the tools.";

pub(crate) struct Opts {
    pub(crate) rows: u64,
    pub(crate) runs: usize,
    pub(crate) only: Vec<String>,
    pub(crate) idle_seconds: u64,
    pub(crate) exportd: PathBuf,
    pub(crate) test_python: PathBuf,
    pub(crate) aws: PathBuf,
    pub(crate) sqlite3: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) out: PathBuf,
}

fn parse_args() -> Res<Opts> {
    use lexopt::prelude::*;
    let mut o = Opts {
        rows: 1_000_000,
        runs: 3,
        only: vec![
            "export".into(),
            "ingest".into(),
            "api".into(),
            "idle".into(),
        ],
        idle_seconds: 60,
        exportd: "target/release/exportd".into(),
        test_python: ".ci/venv/bin/python".into(),
        aws: ".ci/bench-venv/bin/aws".into(),
        sqlite3: "sqlite3".into(),
        work: "target/bench/work".into(),
        out: "target/bench/results.md".into(),
    };
    let mut p = lexopt::Parser::from_env();
    let number = |v: std::ffi::OsString, name: &str| -> Res<u64> {
        let text = v.string().map_err(|e| e.to_string())?.replace('_', "");
        text.parse()
            .map_err(|_| format!("--{name} needs a whole number, got {text:?}"))
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let value = |p: &mut lexopt::Parser| p.value().map_err(|e| e.to_string());
        match arg {
            Long("rows") => o.rows = number(value(&mut p)?, "rows")?.max(1),
            Long("runs") => o.runs = number(value(&mut p)?, "runs")?.max(1) as usize,
            Long("idle-seconds") => o.idle_seconds = number(value(&mut p)?, "idle-seconds")?.max(1),
            Long("only") => {
                o.only = value(&mut p)?
                    .string()
                    .map_err(|e| e.to_string())?
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            Long("exportd") => o.exportd = value(&mut p)?.into(),
            Long("test-python") => o.test_python = value(&mut p)?.into(),
            Long("aws") => o.aws = value(&mut p)?.into(),
            Long("sqlite3") => o.sqlite3 = value(&mut p)?.into(),
            Long("work") => o.work = value(&mut p)?.into(),
            Long("out") => o.out = value(&mut p)?.into(),
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    Ok(o)
}

fn main() {
    if let Err(e) = parse_args().and_then(|o| run(&o)) {
        eprintln!("exportd-bench: {e}");
        std::process::exit(1);
    }
}

pub(crate) fn run(o: &Opts) -> Res<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&o.work).ctx("creating the work directory")?;
    let work = o.work.canonicalize().ctx("work directory")?;
    let mut results = Results::default();
    let machine = machine();
    eprintln!("exportd-bench: {machine}");
    if o.only.iter().any(|s| s == "export") {
        export_bench(o, &work, &mut results)?;
    }
    if o.only.iter().any(|s| s == "ingest") {
        ingest_bench(o, &work, &mut results)?;
    }
    if o.only.iter().any(|s| s == "api") {
        api_bench(o, &work, &mut results)?;
    }
    if o.only.iter().any(|s| s == "idle") {
        idle_bench(o, &work, &mut results)?;
    }
    let mut report = format!(
        "exportd benchmark: {} rows, {} run(s) per figure (median, min, max), {} ({:.0} s in all)\n\n",
        thousands(o.rows),
        o.runs,
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(report, "Machine: {machine}\n");
    report.push_str(&results.table());
    if !results.sides.is_empty() {
        report.push('\n');
        report.push_str(&results.side_table());
    }
    if !results.notes.is_empty() {
        report.push('\n');
        for n in &results.notes {
            let _ = writeln!(report, "- {n}");
        }
    }
    println!("\n{report}");
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).ctx("creating the results directory")?;
    }
    std::fs::write(&o.out, &report).ctx("writing the results")?;
    let per_rows = o.out.with_file_name(format!("results-{}-rows.md", o.rows));
    std::fs::write(&per_rows, &report).ctx("writing the results")?;
    eprintln!(
        "exportd-bench: wrote {} and {}",
        o.out.display(),
        per_rows.display()
    );
    Ok(())
}

/// `nproc`, the CPU model and the memory, for the results.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores (nproc), {model}, {:.1} GiB memory",
        mem_kb / 1_048_576.0
    )
}
