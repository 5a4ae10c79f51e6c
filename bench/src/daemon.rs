//! The processes the benchmark measures: exportd (started through the testkit, its log in
//! `daemon.log`) and what `/proc` says of their CPU and memory.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use exportd_testkit::s3::S3Server;

use crate::{Context, ENVIRONMENT, Http, KEY, Opts, Res, TENANT};

/// A running `exportd serve` on a data directory, stopped with SIGTERM when dropped.
pub(crate) struct Daemon {
    process: exportd_testkit::daemon::Daemon,
    pub(crate) addr: std::net::SocketAddr,
}

impl Daemon {
    /// Writes the config and starts the daemon on `dir`; returns once it listens.
    pub(crate) fn start(o: &Opts, dir: &Path, s3: Option<&S3Server>) -> Res<Daemon> {
        std::fs::create_dir_all(dir.join("data")).ctx("creating the data directory")?;
        let allowed = s3
            .map(|s| format!("\"{}\"", s.endpoint))
            .unwrap_or_default();
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = {:?}\n\n\
             [s3]\nallowed_endpoints = [{allowed}]\n\n\
             [[auth.keys]]\nname = \"bench\"\ntenant_id = \"{TENANT}\"\nenvironment_id = \"{ENVIRONMENT}\"\nkey_sha256 = \"{}\"\n",
            dir.join("data"),
            exportd_testkit::sha256_hex(KEY.as_bytes()),
        );
        let config_path = dir.join("exportd.toml");
        std::fs::write(&config_path, config).ctx("writing the config")?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .ctx("opening the daemon log")?;
        let mut command = Command::new(&o.exportd);
        command.arg("serve").arg("--config").arg(&config_path);
        let each_line = move |line: &str| {
            let _ = writeln!(log, "{line}");
        };
        let process =
            exportd_testkit::daemon::Daemon::spawn(command, each_line, Duration::from_secs(60))
                .map_err(|e| format!("{e} (see {})", dir.join("daemon.log").display()))?;
        Ok(Daemon {
            addr: process.addr,
            process,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub(crate) fn client(&self) -> Http {
        Http::new(self.addr)
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    pub(crate) fn peak_rss(&self) -> Res<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ctx("reading /proc/<pid>/status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb * 1024.0)
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
    }

    /// utime + stime so far, in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> Res<u64> {
        // utime and stime are fields 14 and 15, so 11 and 12 after the state.
        stat_ticks(&format!("/proc/{}/stat", self.pid()), 11)
    }

    /// SIGTERM, then wait for the exit.
    pub(crate) fn stop(mut self) -> Res<()> {
        self.process.terminate(Duration::from_secs(60))?;
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.process.terminate(Duration::from_secs(60));
    }
}

/// The sum of two neighbouring tick counts of a `/proc/<pid>/stat`, the first at `index`
/// counting from the state (field 3).
pub(crate) fn stat_ticks(path: &str, index: usize) -> Res<u64> {
    let stat = std::fs::read_to_string(path).ctx(&format!("reading {path}"))?;
    // The command name (field 2) may hold spaces: count after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Res<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("bad {path}"))
    };
    Ok(field(index)? + field(index + 1)?)
}

pub(crate) fn clock_ticks() -> Res<f64> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ctx("getconf CLK_TCK")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ctx("getconf CLK_TCK")
}
