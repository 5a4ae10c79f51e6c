//! The `system_jobs` table: the billing jobs each environment has enabled, and their schedule.
//! A job is due when it is enabled, idle (`started_at` NULL) and its `next_run_at` has passed.

use rusqlite::Transaction;

use crate::ledger::billing::{ClaimedJob, JobName, SystemJob};
use crate::store::record::{self, Stored};
use crate::store::{Result, Scope};

crate::store::record::stored!(SystemJob in "system_jobs" {
    tenant_id, environment_id, name, interval_ms, enabled, next_run_at, last_run_at,
    last_status, last_error, started_at, created_at, updated_at,
});

/// Enables the scope's job (making it on first use) and makes it due at `now`. Idempotent: a
/// scope has at most one job of each name.
pub(crate) fn enable(tx: &Transaction<'_>, scope: &Scope, name: JobName, now: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO system_jobs (tenant_id, environment_id, name, interval_ms, enabled, next_run_at,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?5)
         ON CONFLICT (tenant_id, environment_id, name) DO UPDATE SET enabled = 1,
             interval_ms = excluded.interval_ms, next_run_at = excluded.next_run_at,
             updated_at = excluded.updated_at",
        rusqlite::params![
            scope.tenant_id,
            scope.environment_id,
            name,
            name.interval_ms(),
            now
        ],
    )?;
    Ok(())
}

/// The scope's jobs, by name.
pub(crate) fn list(tx: &Transaction<'_>, scope: &Scope) -> Result<Vec<SystemJob>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {} FROM system_jobs WHERE tenant_id = ?1 AND environment_id = ?2 ORDER BY name",
        SystemJob::columns()
    ))?;
    record::all(stmt.query(rusqlite::params![scope.tenant_id, scope.environment_id])?)
}

/// The soonest next run of any enabled, idle job.
pub(crate) fn earliest_due(tx: &Transaction<'_>) -> Result<Option<i64>> {
    Ok(tx.query_row(
        "SELECT MIN(next_run_at) FROM system_jobs WHERE enabled = 1 AND started_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

/// Marks every due job started at `now` and returns them; `next_run_at` is left alone until
/// the run ends.
pub(crate) fn claim_due(tx: &Transaction<'_>, now: i64) -> Result<Vec<ClaimedJob>> {
    let mut stmt = tx.prepare_cached(
        "UPDATE system_jobs SET started_at = ?1
         WHERE enabled = 1 AND started_at IS NULL AND next_run_at <= ?1
         RETURNING tenant_id, environment_id, name",
    )?;
    let mut rows = stmt.query([now])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(ClaimedJob {
            scope: Scope {
                tenant_id: r.get(0)?,
                environment_id: r.get(1)?,
            },
            name: r.get(2)?,
            started_at: now,
        });
    }
    // RETURNING gives rows in no set order; run them in a stable one.
    out.sort_by(|a, b| {
        (&a.scope.tenant_id, &a.scope.environment_id, a.name.as_str()).cmp(&(
            &b.scope.tenant_id,
            &b.scope.environment_id,
            b.name.as_str(),
        ))
    });
    Ok(out)
}

/// How a run ended, as recorded.
pub(crate) struct Finish<'a> {
    pub status: &'static str,
    pub error: Option<&'a str>,
    /// When the job is next due; `None` leaves `next_run_at` as it is (an interrupted run is
    /// due again at once). A call made while the job ran (a `next_run_at` after the run's
    /// start) keeps the earlier of the two.
    pub next_run_at: Option<i64>,
}

/// Records the end of a claimed run and makes the job idle again.
pub(crate) fn finish(
    tx: &Transaction<'_>,
    job: &ClaimedJob,
    f: &Finish<'_>,
    now: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE system_jobs SET started_at = NULL, last_run_at = ?1, last_status = ?2, last_error = ?3,
             next_run_at = CASE WHEN ?4 IS NULL THEN next_run_at
                                WHEN next_run_at > started_at THEN MIN(next_run_at, ?4)
                                ELSE ?4 END,
             updated_at = ?1
         WHERE tenant_id = ?5 AND environment_id = ?6 AND name = ?7",
        rusqlite::params![
            now,
            f.status,
            f.error,
            f.next_run_at,
            job.scope.tenant_id,
            job.scope.environment_id,
            job.name.as_str()
        ],
    )?;
    Ok(())
}

/// Makes every claimed or running job idle again, FAILED with `message`, its `next_run_at`
/// unchanged (so it is due again at once); returns how many. For runs a stop or a crash cut
/// short: their `last_run_at` is when they started, since when they stopped is not known.
pub(crate) fn release_interrupted(tx: &Transaction<'_>, message: &str, now: i64) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE system_jobs SET started_at = NULL, last_run_at = started_at, last_status = 'FAILED',
             last_error = ?2, updated_at = ?1
         WHERE started_at IS NOT NULL",
        rusqlite::params![now, message],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::{scope, temp_store};

    #[test]
    fn enabling_twice_keeps_one_job_and_claims_run_it_once() {
        let (_dir, store) = temp_store();
        let job = |name| (scope("prod"), name);
        store
            .write(|tx| {
                enable(tx, &scope("prod"), JobName::UpdateBillingPeriod, 100)?;
                enable(tx, &scope("prod"), JobName::UpdateBillingPeriod, 110)?;
                enable(tx, &scope("dev"), JobName::DraftFinalization, 120)?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let jobs = store.read(|tx| list(tx, &scope("prod"))).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].name, jobs[0].next_run_at, jobs[0].created_at),
            (JobName::UpdateBillingPeriod, Some(110), 100)
        );
        assert_eq!(store.read(earliest_due).unwrap(), Some(110));

        let claimed = store.write(|tx| claim_due(tx, 115)).unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|c| (c.scope.clone(), c.name))
                .collect::<Vec<_>>(),
            [job(JobName::UpdateBillingPeriod)]
        );
        assert!(store.write(|tx| claim_due(tx, 116)).unwrap().is_empty());
        assert_eq!(
            store.read(earliest_due).unwrap(),
            Some(120),
            "running jobs wait"
        );

        // Called again while it runs: it runs again right after.
        store
            .write(|tx| enable(tx, &scope("prod"), JobName::UpdateBillingPeriod, 117))
            .unwrap();
        let done = Finish {
            status: "COMPLETED",
            error: None,
            next_run_at: Some(115 + 900_000),
        };
        store
            .write(|tx| finish(tx, &claimed[0], &done, 130))
            .unwrap();
        let j = &store.read(|tx| list(tx, &scope("prod"))).unwrap()[0];
        assert_eq!(
            (
                j.next_run_at,
                j.last_run_at,
                j.last_status.as_deref(),
                j.started_at
            ),
            (Some(117), Some(130), Some("COMPLETED"), None)
        );

        // Not called while it runs: next run one interval after the start.
        let claimed = store.write(|tx| claim_due(tx, 140)).unwrap();
        assert_eq!(claimed.len(), 2);
        store
            .write(|tx| finish(tx, &claimed[1], &done, 150))
            .unwrap();
        let j = &store.read(|tx| list(tx, &scope("prod"))).unwrap()[0];
        assert_eq!(j.next_run_at, Some(115 + 900_000));

        // The other one was interrupted: idle again, due at once.
        let released = store
            .write(|tx| release_interrupted(tx, "interrupted", 160))
            .unwrap();
        assert_eq!(released, 1);
        let j = &store.read(|tx| list(tx, &scope("dev"))).unwrap()[0];
        assert_eq!(
            (
                j.next_run_at,
                j.last_run_at,
                j.last_status.as_deref(),
                j.last_error.as_deref(),
                j.started_at
            ),
            (
                Some(120),
                Some(140),
                Some("FAILED"),
                Some("interrupted"),
                None
            )
        );
        assert_eq!(store.read(earliest_due).unwrap(), Some(120));
    }
}
