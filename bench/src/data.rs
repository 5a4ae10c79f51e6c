//! Data: realistic events, written straight into a fresh database.

use std::fmt::Write as _;

use std::path::Path;
use std::time::Instant;

use crate::*;

/// xorshift64*: fast, seedable, good enough for test data.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) const EVENT_NAMES: [(&str, u64); 5] = [
    ("api_call", 50),
    ("compute_seconds", 15),
    ("llm_tokens", 20),
    ("storage_gb", 10),
    ("email_sent", 5),
];
pub(crate) const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"];
pub(crate) const SOURCES: [Option<&str>; 3] = [Some("sdk"), Some("api"), None];

/// One event's fields, written into reused buffers: (id, name, customer, source, timestamp
/// offset, properties).
pub(crate) struct GenEvent {
    pub(crate) id: String,
    pub(crate) name: &'static str,
    pub(crate) customer: String,
    pub(crate) source: Option<&'static str>,
    pub(crate) lateness_ms: i64,
    pub(crate) properties: String,
}

impl GenEvent {
    pub(crate) fn new() -> GenEvent {
        GenEvent {
            id: String::with_capacity(40),
            name: "",
            customer: String::with_capacity(16),
            source: None,
            lateness_ms: 0,
            properties: String::with_capacity(128),
        }
    }

    /// A client-chosen event id (a random UUID), a customer, and properties of a few keys
    /// that depend on the event name (sorted keys, compact, as ingest stores them).
    pub(crate) fn fill(&mut self, r: &mut Rng) {
        let (a, b) = (r.next(), r.next());
        self.id.clear();
        let _ = write!(
            self.id,
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        );
        let mut pick = r.below(100);
        self.name = EVENT_NAMES
            .iter()
            .find(|(_, weight)| {
                if pick < *weight {
                    true
                } else {
                    pick -= weight;
                    false
                }
            })
            .map_or("api_call", |(n, _)| n);
        self.customer.clear();
        // A few customers send most events.
        let c = r.below(CUSTOMERS).min(r.below(CUSTOMERS));
        let _ = write!(self.customer, "cus_{c:05}");
        self.source = SOURCES[r.below(3) as usize];
        self.lateness_ms = r.below(120_000) as i64;
        let region = REGIONS[r.below(4) as usize];
        self.properties.clear();
        let p = &mut self.properties;
        let _ = match self.name {
            "api_call" => write!(
                p,
                r#"{{"method":"{}","path":"/v1/orders/{}","region":"{region}","status":{}}}"#,
                ["GET", "POST", "PUT"][r.below(3) as usize],
                r.below(1_000_000),
                [200, 200, 200, 201, 404, 500][r.below(6) as usize]
            ),
            "compute_seconds" => write!(
                p,
                r#"{{"instance":"{}","region":"{region}","seconds":{}}}"#,
                ["m5.large", "c6g.xlarge", "t3.micro"][r.below(3) as usize],
                r.below(3600)
            ),
            "llm_tokens" => write!(
                p,
                r#"{{"input_tokens":{},"model":"{}","output_tokens":{}}}"#,
                r.below(8000),
                ["gpt-4o-mini", "claude-haiku", "llama-3-70b"][r.below(3) as usize],
                r.below(2000)
            ),
            "storage_gb" => write!(
                p,
                r#"{{"bucket":"assets-{}","gb":{}.{},"region":"{region}"}}"#,
                r.below(100),
                r.below(500),
                r.below(10)
            ),
            _ => write!(
                p,
                r#"{{"campaign":"onboarding-{}","recipients":{},"template":"welcome"}}"#,
                r.below(10),
                1 + r.below(5)
            ),
        };
    }
}

/// Fills a fresh database with `rows` events spread over the window (plus the customers most
/// of them name, so the export's customer lookup finds something). The schema is exportd's
/// own: a daemon started once on `dir` makes it.
pub(crate) fn generate(o: &Opts, dir: &Path, rows: u64) -> Res<()> {
    Daemon::start(o, dir, None)?.stop()?;
    let mut db =
        rusqlite::Connection::open(dir.join("data/exportd.db")).ctx("opening the database")?;
    db.execute_batch("PRAGMA cache_size = -1048576")
        .ctx("setting the cache size")?;
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    {
        let tx = db.transaction().ctx("inserting customers")?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO customers (id, tenant_id, environment_id, external_id, name, email,
                         created_at, updated_at, created_by, updated_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'bench', 'bench')",
                )
                .ctx("inserting customers")?;
            // 80% of the customers that send events exist in the ledger.
            for c in 0..CUSTOMERS * 8 / 10 {
                stmt.execute(rusqlite::params![
                    format!("cust_{:016x}{:010x}", r.next(), c),
                    TENANT,
                    ENVIRONMENT,
                    format!("cus_{c:05}"),
                    format!("Customer {c}"),
                    format!("billing+{c}@example.com"),
                    WINDOW_START - 86_400_000,
                ])
                .ctx("inserting customers")?;
            }
        }
        tx.commit().ctx("inserting customers")?;
    }
    let started = Instant::now();
    let mut e = GenEvent::new();
    let span = (WINDOW_END - WINDOW_START) as u64;
    let mut done = 0u64;
    while done < rows {
        let batch = (rows - done).min(200_000);
        let tx = db.transaction().ctx("inserting events")?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (tenant_id, environment_id, id, event_name,
                         external_customer_id, customer_id, source, timestamp, ingested_at, properties)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9)",
                )
                .ctx("inserting events")?;
            for i in done..done + batch {
                e.fill(&mut r);
                // Events arrive in order over the window (the ingest clock is monotonic).
                let ingested_at = WINDOW_START + (i as u128 * span as u128 / rows as u128) as i64;
                stmt.execute(rusqlite::params![
                    TENANT,
                    ENVIRONMENT,
                    e.id,
                    e.name,
                    e.customer,
                    e.source,
                    ingested_at - e.lateness_ms,
                    ingested_at,
                    e.properties,
                ])
                .ctx("inserting events")?;
            }
        }
        tx.commit().ctx("inserting events")?;
        done += batch;
        eprint!(
            "\rexportd-bench: generated {} of {} events ({:.0} s)",
            thousands(done),
            thousands(rows),
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .ctx("checkpointing the database")?;
    Ok(())
}
