//! Meters (SPEC 7.2), declared in the config: which events they count and how. They give the
//! events export its meter columns, usage_analytics its rows, and subscription invoices their
//! usage charges. Quantities are exact decimals parsed from the event's JSON text.

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde_json::Value;

use super::money::parse_any as parse_decimal;
use crate::config::file::MeterFile;
use crate::config::{ConfigError, invalid};

crate::names::named! {
    /// How a meter turns events into usage.
    pub(crate) enum Aggregation {
        Count = "COUNT",
        Sum = "SUM",
        Max = "MAX",
        CountUnique = "COUNT_UNIQUE",
        Latest = "LATEST",
    }
}

impl Aggregation {
    /// Whether the meter reads a property (all but COUNT).
    pub(crate) fn needs_field(self) -> bool {
        self != Aggregation::Count
    }
}

/// A validated meter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meter {
    pub id: String,
    pub event_name: String,
    pub aggregation: Aggregation,
    /// The property it reads (empty for COUNT).
    pub field: String,
    pub feature_id: String,
    pub feature_name: String,
    pub feature_group_name: String,
    pub unit_price: Option<Decimal>,
    pub currency: String,
}

/// What one event gives a meter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Contribution {
    /// A quantity (COUNT: 1; SUM, MAX, LATEST: the property's number).
    Quantity(Decimal),
    /// COUNT_UNIQUE: the property's value, counted once per distinct value.
    Unique(String),
    /// The property is missing or not a number: the event still has its row, but adds nothing.
    Nothing,
}

impl Meter {
    /// The event's contribution, read from its properties (compact JSON text or none).
    pub(crate) fn contribution(&self, properties: Option<&Value>) -> Contribution {
        if self.aggregation == Aggregation::Count {
            return Contribution::Quantity(Decimal::ONE);
        }
        let value = properties.and_then(|p| p.get(&self.field));
        match (self.aggregation, value) {
            (_, None | Some(Value::Null)) => Contribution::Nothing,
            (Aggregation::CountUnique, Some(Value::String(s))) => Contribution::Unique(s.clone()),
            (Aggregation::CountUnique, Some(other)) => Contribution::Unique(other.to_string()),
            (_, Some(Value::Number(n))) => {
                parse_decimal(&n.to_string()).map_or(Contribution::Nothing, Contribution::Quantity)
            }
            (_, Some(Value::String(s))) => {
                parse_decimal(s).map_or(Contribution::Nothing, Contribution::Quantity)
            }
            _ => Contribution::Nothing,
        }
    }

    /// `qty_total` of one event row: the quantity, or 1 for a COUNT_UNIQUE value.
    pub(crate) fn quantity(&self, contribution: &Contribution) -> Option<Decimal> {
        match contribution {
            Contribution::Quantity(q) => Some(*q),
            Contribution::Unique(_) => Some(Decimal::ONE),
            Contribution::Nothing => None,
        }
    }

    /// `quantity × unit_price`, when the meter has a price and the product fits a decimal.
    pub(crate) fn cost(&self, quantity: Decimal) -> Option<Decimal> {
        self.unit_price.and_then(|p| quantity.checked_mul(p))
    }
}

/// A running total of one meter over many events. Sums are checked: event values come from
/// clients, and a sum too large for a decimal (28 digits) is reported, never wrapped or a
/// panic.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Accumulator {
    pub events: u64,
    overflowed: bool,
    sum: Decimal,
    max: Option<Decimal>,
    distinct: BTreeSet<String>,
    /// The latest value by (timestamp, event id).
    latest: Option<((i64, String), Decimal)>,
}

impl Accumulator {
    pub(crate) fn add(&mut self, contribution: &Contribution, timestamp: i64, event_id: &str) {
        self.events += 1;
        match contribution {
            Contribution::Quantity(q) => {
                match self.sum.checked_add(*q) {
                    Some(sum) => self.sum = sum,
                    None => self.overflowed = true,
                }
                self.max = Some(self.max.map_or(*q, |m| m.max(*q)));
                let key = (timestamp, event_id.to_owned());
                if self.latest.as_ref().is_none_or(|(k, _)| *k <= key) {
                    self.latest = Some((key, *q));
                }
            }
            Contribution::Unique(v) => {
                self.distinct.insert(v.clone());
            }
            Contribution::Nothing => {}
        }
    }

    /// The meter's usage over everything added; `None` when a sum outgrew a decimal.
    pub(crate) fn total(&self, aggregation: Aggregation) -> Option<Decimal> {
        Some(match aggregation {
            Aggregation::Count | Aggregation::Sum if self.overflowed => return None,
            Aggregation::Count | Aggregation::Sum => self.sum,
            Aggregation::Max => self.max.unwrap_or_default(),
            Aggregation::CountUnique => Decimal::from(self.distinct.len() as u64),
            Aggregation::Latest => self.latest.as_ref().map(|(_, v)| *v).unwrap_or_default(),
        })
    }
}

/// Meters by event name, in config order, for the per-event lookup.
pub(crate) struct MeterIndex<'m> {
    by_event: HashMap<&'m str, Vec<&'m Meter>>,
}

impl<'m> MeterIndex<'m> {
    pub(crate) fn new(meters: &'m [Meter]) -> MeterIndex<'m> {
        let mut by_event: HashMap<&str, Vec<&Meter>> = HashMap::new();
        for m in meters {
            by_event.entry(m.event_name.as_str()).or_default().push(m);
        }
        MeterIndex { by_event }
    }

    pub(crate) fn for_event(&self, event_name: &str) -> &[&'m Meter] {
        self.by_event.get(event_name).map_or(&[], Vec::as_slice)
    }
}

/// The `[[meters]]` of the config, checked.
pub(crate) fn from_config(meters: &[MeterFile]) -> Result<Vec<Meter>, ConfigError> {
    let mut out: Vec<Meter> = Vec::with_capacity(meters.len());
    for (i, m) in meters.iter().enumerate() {
        let at = |field: &str| format!("meters[{i}].{field}");
        let required = |field: &str, value: &str| -> Result<String, ConfigError> {
            let v = value.trim();
            if v.is_empty() {
                return Err(invalid(at(field), "expected a value"));
            }
            Ok(v.to_owned())
        };
        let id = required("id", &m.id)?;
        if out.iter().any(|o| o.id == id) {
            return Err(invalid(at("id"), format!("meter id {id:?} is used twice")));
        }
        let event_name = required("event_name", &m.event_name)?;
        let aggregation = Aggregation::parse(m.aggregation.trim()).ok_or_else(|| {
            invalid(
                at("aggregation"),
                format!(
                    "expected one of {}, got {:?}",
                    Aggregation::names(),
                    m.aggregation
                ),
            )
        })?;
        let field = m.field.trim().to_owned();
        if aggregation.needs_field() && field.is_empty() {
            return Err(invalid(
                at("field"),
                format!(
                    "expected the event property that {} reads",
                    aggregation.as_str()
                ),
            ));
        }
        let feature_id = if m.feature_id.trim().is_empty() {
            id.clone()
        } else {
            m.feature_id.trim().to_owned()
        };
        let feature_name = if m.feature_name.trim().is_empty() {
            feature_id.clone()
        } else {
            m.feature_name.trim().to_owned()
        };
        let unit_price = match &m.unit_price {
            None => None,
            Some(toml::Value::String(text)) => Some(
                parse_decimal(text)
                    .filter(|d| !d.is_sign_negative())
                    .ok_or_else(|| {
                        invalid(
                            at("unit_price"),
                            format!("expected a decimal of 0 or more in quotes, got {text:?}"),
                        )
                    })?,
            ),
            Some(other) => {
                return Err(invalid(
                    at("unit_price"),
                    format!(
                        "expected a decimal in quotes such as \"0.025\" (floats lose cents), got {other}"
                    ),
                ));
            }
        };
        // A currency is needed with a price, and must be a real ISO 4217 code when given.
        let currency = match (m.currency.trim(), unit_price) {
            ("", None) => String::new(),
            (text, _) => crate::ledger::money::parse_currency("currency", text).map_err(|_| {
                invalid(
                    at("currency"),
                    format!(
                        "expected the ISO 4217 code of unit_price, got {:?}",
                        m.currency
                    ),
                )
            })?,
        };
        out.push(Meter {
            id,
            event_name,
            aggregation,
            field,
            feature_id,
            feature_name,
            feature_group_name: m.feature_group_name.trim().to_owned(),
            unit_price,
            currency,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::money::dec as d;
    use serde_json::json;

    fn meter(aggregation: Aggregation, field: &str) -> Meter {
        Meter {
            id: "m".into(),
            event_name: "api_call".into(),
            aggregation,
            field: field.into(),
            feature_id: "f".into(),
            feature_name: "F".into(),
            feature_group_name: String::new(),
            unit_price: Some(Decimal::new(25, 3)),
            currency: "USD".into(),
        }
    }

    #[test]
    fn contributions_read_the_property_as_text() {
        let props = json!({"bytes": 1.25, "n": "7", "user": "u1", "flag": true});
        assert_eq!(
            meter(Aggregation::Count, "").contribution(None),
            Contribution::Quantity(Decimal::ONE)
        );
        assert_eq!(
            meter(Aggregation::Sum, "bytes").contribution(Some(&props)),
            Contribution::Quantity(d("1.25"))
        );
        assert_eq!(
            meter(Aggregation::Max, "n").contribution(Some(&props)),
            Contribution::Quantity(d("7"))
        );
        assert_eq!(
            meter(Aggregation::Sum, "flag").contribution(Some(&props)),
            Contribution::Nothing
        );
        assert_eq!(
            meter(Aggregation::Sum, "missing").contribution(Some(&props)),
            Contribution::Nothing
        );
        assert_eq!(
            meter(Aggregation::CountUnique, "user").contribution(Some(&props)),
            Contribution::Unique("u1".into())
        );
        let m = meter(Aggregation::Sum, "bytes");
        assert_eq!(m.cost(d("4")), Some(d("0.1")));
        let dear = Meter {
            unit_price: Some(d("2")),
            ..meter(Aggregation::Sum, "bytes")
        };
        assert_eq!(
            dear.cost(Decimal::MAX),
            None,
            "an overflowing cost is no cost, not a panic"
        );
    }

    #[test]
    fn accumulators_aggregate_each_way() {
        let mut acc = Accumulator::default();
        acc.add(&Contribution::Quantity(d("2")), 10, "a");
        acc.add(&Contribution::Quantity(d("5")), 30, "c");
        acc.add(&Contribution::Quantity(d("1.5")), 20, "b");
        acc.add(&Contribution::Nothing, 40, "d");
        assert_eq!(acc.events, 4);
        assert_eq!(acc.total(Aggregation::Sum), Some(d("8.5")));
        assert_eq!(acc.total(Aggregation::Max), Some(d("5")));
        assert_eq!(
            acc.total(Aggregation::Latest),
            Some(d("5")),
            "by timestamp, not arrival"
        );
        let mut huge = Accumulator::default();
        huge.add(&Contribution::Quantity(Decimal::MAX), 0, "x");
        huge.add(&Contribution::Quantity(Decimal::MAX), 1, "y");
        assert_eq!(
            huge.total(Aggregation::Sum),
            None,
            "an overflowing sum is reported, not a panic"
        );
        assert_eq!(huge.total(Aggregation::Max), Some(Decimal::MAX));
        let mut uniq = Accumulator::default();
        for v in ["a", "b", "a"] {
            uniq.add(&Contribution::Unique(v.into()), 0, v);
        }
        assert_eq!(uniq.total(Aggregation::CountUnique), Some(d("2")));
    }
}
