//! A local S3 server (SeaweedFS or moto) run by `tests/s3/serve.py`, a supervisor that prints
//! the server's address and keys, takes `stop` and `start` on its standard input, and stops
//! the server when that input closes.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

use crate::{Context, Error, Result};

/// The supervisor script, in the exportd repository.
const SERVE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/s3/serve.py");

pub struct S3Server {
    /// `seaweedfs` or `moto`.
    pub kind: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The region of every bucket made here (moto refuses a LocationConstraint of us-east-1).
    pub region: String,
    /// The server process (not its supervisor): the benchmark reads its CPU time.
    pub pid: u32,
    supervisor: Mutex<Option<(Child, BufReader<ChildStdout>)>>,
}

impl S3Server {
    /// Starts a server of `kind` with the Python of a virtualenv that has the test tools.
    pub fn start(python: &Path, kind: &str, region: &str) -> Result<S3Server> {
        let mut child = Command::new(python)
            .arg(SERVE_PY)
            .arg(kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ctx("starting tests/s3/serve.py")?;
        let mut stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| Error("no stdout".into()))?,
        );
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .ctx("reading the S3 server's address")?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| Error(format!("{kind} did not start ({e}): {line:?}")))?;
        let field = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error(format!("{kind}: no {k} in {v}")))
        };
        Ok(S3Server {
            kind: kind.to_owned(),
            endpoint: field("endpoint")?,
            access_key: field("access_key")?,
            secret_key: field("secret_key")?,
            region: region.to_owned(),
            pid: v["pid"]
                .as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| Error(format!("{kind}: no pid in {v}")))?,
            supervisor: Mutex::new(Some((child, stdout))),
        })
    }

    /// Stops the server (its supervisor kills it when its stdin closes) and waits for that.
    pub fn stop(&self) {
        let taken = self
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((mut child, _)) = taken {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// Sends the supervisor a command (`stop` or `start`) and waits for its answer.
    pub fn command(&self, command: &str, answer: &str) -> Result<()> {
        let mut guard = self.supervisor.lock().unwrap_or_else(|e| e.into_inner());
        let (child, stdout) = guard
            .as_mut()
            .ok_or_else(|| Error(format!("{}: stopped for good", self.kind)))?;
        let stdin = child
            .stdin
            .as_mut()
            .ok_or_else(|| Error("no stdin".into()))?;
        writeln!(stdin, "{command}").ctx("sending a command")?;
        stdin.flush().ctx("sending a command")?;
        let mut line = String::new();
        stdout.read_line(&mut line).ctx("reading the answer")?;
        if line.trim() != answer {
            return Err(Error(format!(
                "{}: {command} answered {line:?}, not {answer}",
                self.kind
            )));
        }
        Ok(())
    }

    pub fn region_and_credentials(&self) -> Result<(s3::Region, s3::creds::Credentials)> {
        let region = s3::Region::Custom {
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
        };
        let creds = s3::creds::Credentials::new(
            Some(&self.access_key),
            Some(&self.secret_key),
            None,
            None,
            None,
        )
        .ctx("S3 credentials")?;
        Ok((region, creds))
    }

    /// A rust-s3 client for one bucket (path-style addressing).
    pub fn bucket(&self, name: &str) -> Result<Box<s3::Bucket>> {
        let (region, creds) = self.region_and_credentials()?;
        Ok(s3::Bucket::new(name, region, creds)
            .ctx("S3 bucket")?
            .with_path_style())
    }

    pub fn create_bucket(&self, name: &str) -> Result<()> {
        let (region, creds) = self.region_and_credentials()?;
        s3::Bucket::create_with_path_style(name, region, creds, s3::BucketConfiguration::default())
            .ctx(&format!("{}: creating bucket {name}", self.kind))?;
        Ok(())
    }

    /// A new, empty bucket with a unique name.
    pub fn new_bucket(&self) -> Result<String> {
        let name = format!("t-{}", ulid::Ulid::new().to_string().to_lowercase());
        self.create_bucket(&name)?;
        Ok(name)
    }

    /// An object's bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        Ok(self
            .bucket(bucket)?
            .get_object(key)
            .ctx(&format!("{}: get {key}", self.kind))?
            .bytes()
            .to_vec())
    }

    /// Every key in the bucket.
    pub fn keys(&self, bucket: &str) -> Result<Vec<String>> {
        Ok(self
            .bucket(bucket)?
            .list(String::new(), None)
            .ctx(&format!("{}: listing {bucket}", self.kind))?
            .into_iter()
            .flat_map(|page| page.contents.into_iter().map(|o| o.key))
            .collect())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
