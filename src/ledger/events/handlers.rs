//! `/v1/events`: usage events in Flexprice's shape. An event is durable when 202 is returned,
//! and a repeated `event_id` is accepted and stored once.

use serde_json::{Value, json};

use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Ctx, Outcome, Reply, not_found};
use crate::ledger::events::{NewEvent, parse_bulk, parse_single};

fn store_events(ctx: &Ctx<'_>, events: &[NewEvent]) -> Result<usize, ApiError> {
    let stored = ctx.app.store.write(|tx| {
        // Taken inside the write lock, so ingest times follow commit order.
        let ingested_at = ctx.app.next_ingested_at();
        crate::ledger::events::storage::insert(tx, &ctx.scope, events, ingested_at)
    })?;
    ctx.app
        .metrics
        .events_ingested(events.len() as u64, stored as u64);
    Ok(stored)
}

pub(crate) fn ingest(ctx: &Ctx<'_>) -> Outcome {
    let event = parse_single(&ctx.json()?, ctx.now())?;
    store_events(ctx, std::slice::from_ref(&event))?;
    Reply::json(
        202,
        json!({"message": "Event accepted for processing", "event_id": event.id}),
    )
}

pub(crate) fn ingest_bulk(ctx: &Ctx<'_>) -> Outcome {
    let events = parse_bulk(&ctx.json()?, ctx.now())?;
    store_events(ctx, &events)?;
    Reply::json(202, json!({"message": "Events accepted for processing"}))
}

/// `GET /v1/events/{id}`: one stored event, in the shape of Flexprice's GetEventByIDResponse.
/// Its processing fields (meters matched, debug tracking) are Flexprice's pipeline and are
/// null here: exportd applies meters when it exports.
pub(crate) fn get(ctx: &Ctx<'_>, id: &str) -> Outcome {
    // Client event ids may hold any character; SDKs percent-encode them in the path.
    let decoded = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    reply_event(ctx, decoded.as_ref(), None)
}

/// `GET /v1/events/lookup?id=&external_customer_id=` (the Python SDK's get_event): the same
/// answer; an event of another customer is not found.
pub(crate) fn lookup(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let id = q
        .text("id", crate::ledger::events::MAX_TEXT)?
        .ok_or_else(|| ApiError::validation("id", "id is required (the event_id)"))?;
    let customer = q.text("external_customer_id", crate::ledger::events::MAX_TEXT)?;
    reply_event(ctx, id, customer)
}

fn reply_event(ctx: &Ctx<'_>, id: &str, customer: Option<&str>) -> Outcome {
    let event = ctx
        .app
        .store
        .read(|tx| crate::ledger::events::storage::get(tx, &ctx.scope, id))?
        .filter(|e| customer.is_none_or(|c| c == e.external_customer_id))
        .ok_or_else(|| not_found("Event", id))?;
    let properties = match &event.properties {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::internal(format!("event {id}: stored properties: {e}")))?,
        None => Value::Null,
    };
    Reply::json(
        200,
        json!({
            "event": {
                "id": event.id,
                "event_name": event.event_name,
                "external_customer_id": event.external_customer_id,
                "customer_id": event.customer_id,
                "source": event.source,
                "timestamp": rfc3339_ms(event.timestamp),
                "ingested_at": rfc3339_ms(event.ingested_at),
                "properties": properties,
                "environment_id": ctx.scope.environment_id,
            },
            "events": null,
            "status": null,
            "processed_events": null,
            "debug_tracker": null,
        }),
    )
}
