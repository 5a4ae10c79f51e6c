//! The draft-finalization job: DRAFT invoices whose period ended long enough ago become
//! FINALIZED, a batch per transaction.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{RunEnd, SYSTEM_USER, Stop};
use crate::app::App;
use crate::store::Scope;

/// Drafts finalized per transaction.
const BATCH: usize = 200;

/// Finalizes the scope's DRAFT invoices whose period ended more than the finalization delay
/// before `now`, a batch per transaction.
pub(super) fn finalize_drafts(app: &App, scope: &Scope, now: i64, stop: &AtomicBool) -> RunEnd {
    let delay = i64::try_from(app.config.finalization_delay.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(delay);
    let mut finalized = 0;
    loop {
        if stop.load(Ordering::SeqCst) {
            return RunEnd::Interrupted;
        }
        let batch = app.store.write(|tx| {
            let drafts =
                crate::ledger::invoices::storage::drafts_ended_before(tx, scope, cutoff, BATCH)?;
            let at = app.now_ms();
            for mut invoice in drafts.iter().cloned() {
                invoice
                    .finalize(at, SYSTEM_USER)
                    .map_err(|illegal| Stop::Failed(illegal.message))?;
                if !crate::ledger::invoices::storage::update_status(tx, &invoice)? {
                    return Err(Stop::Failed(format!(
                        "invoice {} changed while it was being finalized",
                        invoice.id
                    )));
                }
            }
            Ok::<_, Stop>(drafts.len())
        });
        match batch {
            Ok(n) => {
                finalized += n;
                if n < BATCH {
                    return RunEnd::Completed(format!("{finalized} invoice(s) finalized"));
                }
            }
            Err(Stop::Interrupted) => return RunEnd::Interrupted,
            Err(Stop::Failed(e)) => {
                return RunEnd::Failed(format!("{e} ({finalized} invoice(s) finalized before)"));
            }
        }
    }
}
