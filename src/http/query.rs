//! Query-string parameters of list routes. Unknown parameters are ignored (SDKs send extras
//! such as `expand`); known ones are checked and a bad value is a 400 naming it.

use crate::clock::parse_rfc3339_ms;
use crate::input::{InputError, check_text};

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 1000;
const MAX_OFFSET: i64 = 1_000_000_000;

pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
        Query(
            url::form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter's value; empty counts as absent, and a parameter given twice is an error.
    pub(crate) fn get(&self, key: &str) -> Result<Option<&str>, InputError> {
        let mut values = self.0.iter().filter(|(k, v)| k == key && !v.is_empty());
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(InputError::new(
                key,
                format!("{key} is given more than once"),
            ));
        }
        Ok(first)
    }

    pub(crate) fn text(&self, key: &str, max: usize) -> Result<Option<&str>, InputError> {
        let value = self.get(key)?;
        if let Some(v) = value {
            check_text(key, v, max)?;
        }
        Ok(value)
    }

    /// A value that must be one of a fixed set, turned into its type by `parse`. Case does
    /// not matter: Flexprice's SDKs send some values upper case (`EVENTS`) that exportd
    /// spells lower case, and the reverse (every canonical spelling is one case throughout).
    pub(crate) fn choice<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, InputError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => parse(v)
                .or_else(|| parse(&v.to_ascii_lowercase()))
                .or_else(|| parse(&v.to_ascii_uppercase()))
                .map(Some)
                .ok_or_else(|| InputError::new(key, format!("{key} must be one of: {expected}"))),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, InputError> {
        self.choice(
            key,
            |v| match v {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            "true, false",
        )
    }

    pub(crate) fn timestamp(&self, key: &str) -> Result<Option<i64>, InputError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => parse_rfc3339_ms(v).map(Some).ok_or_else(|| {
                InputError::new(
                    key,
                    format!("{key} must be an RFC 3339 timestamp such as 2025-10-16T10:00:00Z"),
                )
            }),
        }
    }

    fn int(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, InputError> {
        match self.get(key)? {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    InputError::new(
                        key,
                        format!("{key} must be a whole number from {min} to {max}"),
                    )
                }),
        }
    }

    /// `limit` (default 50, 1 to 1000) and `offset` (default 0).
    pub(crate) fn page(&self) -> Result<(i64, i64), InputError> {
        Ok((
            self.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?,
            self.int("offset", 0, 0, MAX_OFFSET)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_default_and_are_bounded() {
        assert_eq!(Query::parse("").page(), Ok((50, 0)));
        assert_eq!(Query::parse("limit=1000&offset=5").page(), Ok((1000, 5)));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=abc",
            "offset=-1",
            "limit=1&limit=2",
        ] {
            assert!(Query::parse(bad).page().is_err(), "{bad}");
        }
        assert_eq!(
            Query::parse("limit=0").page().unwrap_err().message,
            "limit must be a whole number from 1 to 1000"
        );
    }

    #[test]
    fn decodes_and_checks_values() {
        let q = Query::parse(
            "enabled=true&connection_id=conn%5F1&start_time=2025-10-16T10%3A00%3A00Z&expand=x&status=",
        );
        assert_eq!(q.bool("enabled"), Ok(Some(true)));
        assert_eq!(q.text("connection_id", 10), Ok(Some("conn_1")));
        assert!(q.timestamp("start_time").expect("valid").is_some());
        assert_eq!(q.get("status"), Ok(None));
        assert_eq!(
            Query::parse("enabled=yes")
                .bool("enabled")
                .unwrap_err()
                .message,
            "enabled must be one of: true, false"
        );
        assert!(
            Query::parse("start_time=today")
                .timestamp("start_time")
                .is_err()
        );
    }

    #[test]
    fn choices_ignore_case_either_way() {
        let entity = |q: &str| {
            Query::parse(q).choice(
                "entity_type",
                crate::scheduled_tasks::EntityType::parse,
                "events, invoice",
            )
        };
        let events = Some(crate::scheduled_tasks::EntityType::Events);
        assert_eq!(entity("entity_type=EVENTS"), Ok(events));
        assert_eq!(entity("entity_type=Events"), Ok(events));
        assert_eq!(entity("entity_type=events"), Ok(events));
        assert!(entity("entity_type=EVENT").is_err());
        let interval = Query::parse("interval=15min")
            .choice(
                "interval",
                |s| crate::scheduled_tasks::Interval::accepted(s, false),
                "",
            )
            .expect("valid");
        assert_eq!(interval, Some(crate::scheduled_tasks::Interval::Min15));
        assert_eq!(Query::parse("enabled=TRUE").bool("enabled"), Ok(Some(true)));
    }
}
