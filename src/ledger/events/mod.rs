//! Usage events (Flexprice's `POST /v1/events` and `/v1/events/bulk`): parsing and validation.

pub(crate) mod handlers;
pub(crate) mod storage;

use serde_json::Value;

use crate::clock::parse_rfc3339_ms;
use crate::input::{InputError, Obj};

/// Most events one bulk request may carry.
pub(crate) const MAX_BULK: usize = 1000;
/// Largest `properties` object, serialised.
pub(crate) const MAX_PROPERTIES_BYTES: usize = 64 * 1024;
pub(crate) const MAX_TEXT: usize = 255;

/// A validated event, before exportd gives it an `ingested_at`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEvent {
    pub id: String,
    pub event_name: String,
    pub external_customer_id: String,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub timestamp: i64,
    /// Compact JSON with sorted keys.
    pub properties: Option<String>,
}

/// Reads one event object; `now` is the default timestamp.
pub(crate) fn parse_event(mut obj: Obj<'_>, now: i64) -> Result<NewEvent, InputError> {
    let id = match obj.str("event_id", MAX_TEXT)? {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => crate::ids::new_id(crate::ids::EVENT),
    };
    let event_name = obj.required_str("event_name", MAX_TEXT)?.to_owned();
    let external_customer_id = obj
        .required_str("external_customer_id", MAX_TEXT)?
        .to_owned();
    let customer_id = obj
        .str("customer_id", MAX_TEXT)?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let source = obj
        .str("source", MAX_TEXT)?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let timestamp = match obj.str("timestamp", 64)?.filter(|s| !s.is_empty()) {
        None => now,
        Some(text) => parse_rfc3339_ms(text)
            .filter(|ms| (0..=253_402_300_799_999).contains(ms))
            .ok_or_else(|| {
                let field = obj.field("timestamp");
                InputError::new(
                    &field,
                    format!("{field} must be an RFC 3339 timestamp between 1970 and 9999, such as 2025-10-16T10:00:00Z"),
                )
            })?,
    };
    let properties_field = obj.field("properties");
    let properties = match obj.any_object("properties")? {
        None => None,
        Some(map) => {
            // serde_json's map is ordered by key, so this is the sorted form exports show.
            let text = Value::Object(map.clone()).to_string();
            if text.len() > MAX_PROPERTIES_BYTES {
                return Err(InputError::new(
                    &properties_field,
                    format!(
                        "{properties_field} must be at most {MAX_PROPERTIES_BYTES} bytes as JSON"
                    ),
                ));
            }
            Some(text)
        }
    };
    obj.finish()?;
    Ok(NewEvent {
        id,
        event_name,
        external_customer_id,
        customer_id,
        source,
        timestamp,
        properties,
    })
}

/// `POST /v1/events`.
pub(crate) fn parse_single(body: &Value, now: i64) -> Result<NewEvent, InputError> {
    parse_event(Obj::root(body)?, now)
}

/// `POST /v1/events/bulk`: `{"events": [...]}` with 1 to 1000 events, all valid or none taken.
pub(crate) fn parse_bulk(body: &Value, now: i64) -> Result<Vec<NewEvent>, InputError> {
    let mut obj = Obj::root(body)?;
    let items = obj.obj_array("events", MAX_BULK)?;
    obj.finish()?;
    if items.is_empty() {
        return Err(InputError::new(
            "events",
            "events must hold 1 to 1000 events",
        ));
    }
    items
        .into_iter()
        .map(|item| parse_event(item, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_760_608_800_000; // 2025-10-16T10:00:00Z

    #[test]
    fn fills_id_and_timestamp_and_sorts_properties() {
        let e = parse_single(
            &json!({"event_name":"api_call","external_customer_id":"cus_1",
                                     "properties":{"z":1,"a":{"y":2,"b":[3]}}}),
            NOW,
        )
        .unwrap();
        assert!(e.id.starts_with("event_"));
        assert_eq!(e.timestamp, NOW);
        assert_eq!(
            e.properties.as_deref(),
            Some(r#"{"a":{"b":[3],"y":2},"z":1}"#)
        );
        assert_eq!((e.customer_id, e.source), (None, None));
    }

    #[test]
    fn keeps_given_fields() {
        let e = parse_single(&json!({"event_id":"evt-1","event_name":"n","external_customer_id":"c",
                                     "customer_id":"cust_9","source":"sdk","timestamp":"2025-10-16T12:00:00+02:00"}), NOW).unwrap();
        assert_eq!(e.id, "evt-1");
        assert_eq!(e.timestamp, NOW);
        assert_eq!(e.customer_id.as_deref(), Some("cust_9"));
    }

    #[test]
    fn names_the_bad_field() {
        let err = |v: Value| parse_single(&v, NOW).unwrap_err();
        assert_eq!(
            err(json!({"external_customer_id":"c"})).message,
            "event_name is required"
        );
        assert_eq!(
            err(json!({"event_name":"n"})).message,
            "external_customer_id is required"
        );
        assert_eq!(
            err(json!({"event_name":"n","external_customer_id":"c","timestamp":"now"})).field,
            "timestamp"
        );
        assert_eq!(
            err(json!({"event_name":"n","external_customer_id":"c","properties":[1]})).field,
            "properties"
        );
        assert_eq!(
            err(json!({"event_name":"n","external_customer_id":"c","qty":1})).message,
            "qty is not a known field"
        );
        let big = json!({"event_name":"n","external_customer_id":"c","properties":{"k":"x".repeat(70_000)}});
        assert!(err(big).message.contains("at most 65536 bytes"));
    }

    #[test]
    fn bulk_is_all_or_nothing_with_indexed_fields() {
        let ok = json!({"event_name":"n","external_customer_id":"c"});
        assert_eq!(
            parse_bulk(&json!({"events":[ok, ok]}), NOW).unwrap().len(),
            2
        );
        let err = parse_bulk(&json!({"events":[ok, {"event_name":"n"}]}), NOW).unwrap_err();
        assert_eq!(err.field, "events[1].external_customer_id");
        assert_eq!(
            parse_bulk(&json!({"events":[]}), NOW).unwrap_err().message,
            "events must hold 1 to 1000 events"
        );
        let many: Vec<Value> = (0..1001).map(|_| ok.clone()).collect();
        assert!(
            parse_bulk(&json!({ "events": many }), NOW)
                .unwrap_err()
                .message
                .contains("at most 1000")
        );
    }
}
