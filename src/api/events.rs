//! `/v1/events`: usage events in Flexprice's shape. An event is durable when 202 is returned,
//! and a repeated `event_id` is accepted and stored once.

use serde_json::json;

use super::{ApiError, Ctx, Outcome, Reply};
use crate::ledger::events::{NewEvent, parse_bulk, parse_single};
use crate::store;

fn store_events(ctx: &Ctx<'_>, events: &[NewEvent]) -> Result<usize, ApiError> {
    let stored = ctx.app.store.write(|tx| {
        // Taken inside the write lock, so ingest times follow commit order.
        let ingested_at = ctx.app.next_ingested_at();
        store::events::insert(tx, &ctx.scope, events, ingested_at)
    })?;
    ctx.app
        .metrics
        .events_ingested(events.len() as u64, stored as u64);
    Ok(stored)
}

pub fn ingest(ctx: &Ctx<'_>) -> Outcome {
    let event = parse_single(&ctx.json()?, ctx.now())?;
    store_events(ctx, std::slice::from_ref(&event))?;
    Reply::json(
        202,
        json!({"message": "Event accepted for processing", "event_id": event.id}),
    )
}

pub fn ingest_bulk(ctx: &Ctx<'_>) -> Outcome {
    let events = parse_bulk(&ctx.json()?, ctx.now())?;
    store_events(ctx, &events)?;
    Reply::json(202, json!({"message": "Events accepted for processing"}))
}
