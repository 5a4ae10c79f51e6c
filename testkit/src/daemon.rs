//! A running `exportd serve`: started from a command the caller builds (binary, config,
//! environment), its log read line by line, its address read from the log, and stopped with
//! SIGTERM (or killed when dropped).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Context, Error, Result};

pub struct Daemon {
    child: Child,
    /// Where it listens, as its log said.
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Spawns `command` (an `exportd serve`, with `listen` on port 0 or any), hands each line
    /// of its log to `each_line`, and waits up to `limit` for it to log where it listens.
    pub fn spawn(
        mut command: Command,
        mut each_line: impl FnMut(&str) + Send + 'static,
        limit: Duration,
    ) -> Result<Daemon> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ctx("starting exportd")?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error("no stderr".into()))?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                each_line(&line);
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            reader: Some(reader),
        };
        match rx.recv_timeout(limit) {
            Ok(addr) => {
                daemon.addr = addr
                    .parse()
                    .map_err(|_| Error(format!("exportd logged the address {addr:?}")))?;
                Ok(daemon)
            }
            Err(_) => {
                daemon.kill();
                Err(Error(format!(
                    "exportd did not start listening; its log:\n{}",
                    daemon.log()
                )))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends SIGTERM (unless it has exited already) and waits up to `limit` for the exit; its
    /// whole log has been read when this returns.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
        }
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().ctx("waiting for exportd")? {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error(format!("exportd did not exit within {limit:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it and waits for the exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
