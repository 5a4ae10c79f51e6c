//! Strict reading of JSON request bodies.
//!
//! Bodies are parsed into a `serde_json::Value` that refuses duplicate keys, then read field by
//! field through [`Obj`], which knows the dotted path of every field so each error names it, and
//! which refuses unknown fields (a typo must never silently disable a setting).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A problem with client input: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputError {
    /// Dotted path of the field (`job_config.bucket`), or empty for the whole body.
    pub field: String,
    pub message: String,
}

/// Messages and field paths can quote client input (an unknown key, say); they are cut to
/// these lengths so a hostile request cannot make a huge answer.
const MAX_FIELD_CHARS: usize = 200;
const MAX_MESSAGE_CHARS: usize = 500;

fn shorten(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

impl InputError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            field: shorten(field.into(), MAX_FIELD_CHARS),
            message: shorten(message.into(), MAX_MESSAGE_CHARS),
        }
    }
}

/// Why a value is refused, in words for the client: a phrase that completes "`<field>` ..."
/// (`must use https unless ...`) or a sentence, as the function that returns it says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(why: String) -> Self {
        Invalid(why)
    }
}

impl From<&str> for Invalid {
    fn from(why: &str) -> Self {
        Invalid(why.to_owned())
    }
}

/// The words themselves.
impl std::ops::Deref for Invalid {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<Invalid> for String {
    fn from(why: Invalid) -> Self {
        why.0
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Parses a request body as JSON. Invalid UTF-8, syntax errors, duplicate keys and nesting
/// deeper than serde_json's limit (128) are all errors that say where the problem is.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, InputError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = StrictValue::deserialize(&mut de)
        .and_then(|v| de.end().map(|_| v))
        .map_err(|e| InputError::new("", format!("request body is not valid JSON: {e}")))?;
    Ok(value.0)
}

/// A JSON value whose objects never had a duplicate key.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue::deserialize(d).map(|v| v.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let StrictValue(v) = map.next_value_seed(StrictSeed)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = StrictValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<StrictValue, D::Error> {
        StrictValue::deserialize(d)
    }
}

/// Refuses a list or map of `field` with more than `max` `things` (entries, keys).
fn at_most(field: &str, len: usize, max: usize, things: &str) -> Result<(), InputError> {
    if len > max {
        return Err(InputError::new(
            field,
            format!("{field} must have at most {max} {things}"),
        ));
    }
    Ok(())
}

/// The JSON type name used in messages ("must be a string, got a number").
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Joins a parent path and a key (`job_config` + `bucket` = `job_config.bucket`).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks a free-text value: at most `max` characters and no control characters.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<(), InputError> {
    if value.chars().count() > max {
        return Err(InputError::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InputError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Limits for a metadata map (string keys to string values).
pub(crate) const METADATA_MAX_KEYS: usize = 64;
pub(crate) const METADATA_MAX_KEY_CHARS: usize = 255;
pub(crate) const METADATA_MAX_VALUE_CHARS: usize = 4096;

/// A JSON object being read field by field. Every field read is remembered; [`Obj::finish`]
/// rejects the first field that nobody asked for.
pub(crate) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    seen: Vec<&'a str>,
}

impl<'a> Obj<'a> {
    /// The request body itself, which must be an object.
    pub(crate) fn root(value: &'a Value) -> Result<Obj<'a>, InputError> {
        match value {
            Value::Object(map) => Ok(Obj {
                path: String::new(),
                map,
                seen: Vec::new(),
            }),
            other => Err(InputError::new(
                "",
                format!("request body must be a JSON object, got {}", kind(other)),
            )),
        }
    }

    /// Path of a field of this object.
    pub(crate) fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The raw value of a field; JSON `null` counts as absent.
    fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        self.seen.push(key);
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn type_error(&self, key: &str, want: &str, got: &Value) -> InputError {
        let field = self.field(key);
        InputError::new(&field, format!("{field} must be {want}, got {}", kind(got)))
    }

    /// An optional string, checked with [`check_text`].
    pub(crate) fn str(&mut self, key: &'a str, max: usize) -> Result<Option<&'a str>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => {
                check_text(&self.field(key), s, max)?;
                Ok(Some(s.as_str()))
            }
            Some(other) => Err(self.type_error(key, "a string", other)),
        }
    }

    /// A string that must be present and not blank: `<field> is required` otherwise.
    pub(crate) fn required_str(&mut self, key: &'a str, max: usize) -> Result<&'a str, InputError> {
        match self.str(key, max)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => {
                let field = self.field(key);
                Err(InputError::new(&field, format!("{field} is required")))
            }
        }
    }

    pub(crate) fn bool(&mut self, key: &'a str) -> Result<Option<bool>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.type_error(key, "a boolean (true or false)", other)),
        }
    }

    /// An optional whole number within `min..=max`.
    pub(crate) fn int(
        &mut self,
        key: &'a str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                _ => {
                    let field = self.field(key);
                    Err(InputError::new(
                        &field,
                        format!("{field} must be a whole number from {min} to {max}"),
                    ))
                }
            },
            Some(other) => Err(self.type_error(key, "a number", other)),
        }
    }

    /// An optional nested object.
    pub(crate) fn obj(&mut self, key: &'a str) -> Result<Option<Obj<'a>>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                path: self.field(key),
                map,
                seen: Vec::new(),
            })),
            Some(other) => Err(self.type_error(key, "an object", other)),
        }
    }

    /// A field's value as it is (JSON null counts as absent), for readers with their own rules
    /// (amounts that may be strings or numbers).
    pub(crate) fn raw(&mut self, key: &'a str) -> Option<&'a Value> {
        self.get(key)
    }

    /// An optional object of any JSON values, returned as it is.
    pub(crate) fn any_object(
        &mut self,
        key: &'a str,
    ) -> Result<Option<&'a Map<String, Value>>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.type_error(key, "an object", other)),
        }
    }

    /// An optional array of objects, each to be read with its own [`Obj`] (path `key[i]`).
    pub(crate) fn obj_array(
        &mut self,
        key: &'a str,
        max_len: usize,
    ) -> Result<Vec<Obj<'a>>, InputError> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.type_error(key, "an array", other)),
        };
        let field = self.field(key);
        at_most(&field, items.len(), max_len, "entries")?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Obj {
                    path: format!("{field}[{i}]"),
                    map,
                    seen: Vec::new(),
                }),
                other => Err(InputError::new(
                    format!("{field}[{i}]"),
                    format!("{field}[{i}] must be an object, got {}", kind(other)),
                )),
            })
            .collect()
    }

    /// An optional map of string keys to string values (Flexprice's `metadata`).
    pub(crate) fn string_map(
        &mut self,
        key: &'a str,
    ) -> Result<Option<BTreeMap<String, String>>, InputError> {
        let map = match self.get(key) {
            None => return Ok(None),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(self.type_error(key, "an object of strings", other)),
        };
        let field = self.field(key);
        at_most(&field, map.len(), METADATA_MAX_KEYS, "keys")?;
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let entry = format!("{field}.{k}");
            if k.is_empty() {
                return Err(InputError::new(&field, format!("{field} has an empty key")));
            }
            check_text(&entry, k, METADATA_MAX_KEY_CHARS)?;
            match v {
                Value::String(s) => {
                    check_text(&entry, s, METADATA_MAX_VALUE_CHARS)?;
                    out.insert(k.clone(), s.clone());
                }
                other => {
                    return Err(InputError::new(
                        &entry,
                        format!("{entry} must be a string, got {}", kind(other)),
                    ));
                }
            }
        }
        Ok(Some(out))
    }

    /// Whether the object has this key (with any value, even null). Does not mark it read.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Fails on the first field (in key order) that was never read.
    pub(crate) fn finish(self) -> Result<(), InputError> {
        match self.map.keys().find(|k| !self.seen.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => {
                let field = join(&self.path, unknown);
                Err(InputError::new(
                    &field,
                    format!("{field} is not a known field"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quoting_huge_input_stay_short() {
        let key = "k".repeat(100_000);
        let v = parse_json(format!("{{\"{key}\":1}}").as_bytes()).expect("json");
        let err = Obj::root(&v).expect("object").finish().unwrap_err();
        assert!(err.field.chars().count() <= MAX_FIELD_CHARS + 1);
        assert!(err.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert!(err.message.ends_with('…'));
    }

    #[test]
    fn rejects_duplicate_keys_at_any_depth() {
        let err = parse_json(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(
            err.message.contains("duplicate field `a`"),
            "{}",
            err.message
        );
        let err = parse_json(br#"{"job_config":{"bucket":"x","bucket":"y"}}"#).unwrap_err();
        assert!(err.message.contains("duplicate field `bucket`"));
    }

    #[test]
    fn rejects_invalid_utf8_trailing_garbage_and_deep_nesting() {
        assert!(parse_json(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse_json(b"{} x").is_err());
        assert!(parse_json(b"").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        let err = parse_json(deep.as_bytes()).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{}", err.message);
    }

    #[test]
    fn names_fields_in_type_errors_and_unknown_fields() {
        let v = parse_json(br#"{"job_config":{"use_path_style":"yes"}}"#).expect("json");
        let mut root = Obj::root(&v).expect("object");
        let mut job = root.obj("job_config").expect("ok").expect("present");
        let err = job.bool("use_path_style").unwrap_err();
        assert_eq!(err.field, "job_config.use_path_style");
        assert_eq!(
            err.message,
            "job_config.use_path_style must be a boolean (true or false), got a string"
        );

        let v = parse_json(br#"{"name":"x","nmae":"y"}"#).expect("json");
        let mut root = Obj::root(&v).expect("object");
        root.str("name", 10).expect("string");
        let err = root.finish().unwrap_err();
        assert_eq!(err.field, "nmae");
        assert_eq!(err.message, "nmae is not a known field");
    }

    #[test]
    fn required_strings_and_limits() {
        let v = parse_json(br#"{"a":"  ","b":"0123456789x","c":"ok\u0000"}"#).expect("json");
        let mut root = Obj::root(&v).expect("object");
        assert_eq!(
            root.required_str("a", 5).unwrap_err().message,
            "a is required"
        );
        assert_eq!(
            root.required_str("missing", 5).unwrap_err().message,
            "missing is required"
        );
        assert_eq!(
            root.str("b", 10).unwrap_err().message,
            "b must be at most 10 characters"
        );
        assert_eq!(
            root.str("c", 10).unwrap_err().message,
            "c must not contain control characters"
        );
    }

    #[test]
    fn null_counts_as_absent_and_non_objects_are_refused() {
        let v = parse_json(br#"{"a":null}"#).expect("json");
        let mut root = Obj::root(&v).expect("object");
        assert_eq!(root.str("a", 5).expect("ok"), None);
        assert!(root.finish().is_ok());
        let v = parse_json(b"[1]").expect("json");
        assert_eq!(
            Obj::root(&v).err().map(|e| e.message),
            Some("request body must be a JSON object, got an array".to_owned())
        );
    }

    #[test]
    fn string_maps_and_arrays_name_their_entries() {
        let v = parse_json(br#"{"metadata":{"k":1},"list":[{},3]}"#).expect("json");
        let mut root = Obj::root(&v).expect("object");
        assert_eq!(
            root.string_map("metadata").unwrap_err().message,
            "metadata.k must be a string, got a number"
        );
        assert_eq!(
            root.obj_array("list", 5).err().map(|e| e.field),
            Some("list[1]".to_owned())
        );
        assert_eq!(
            root.obj_array("list", 1).err().map(|e| e.message),
            Some("list must have at most 1 entries".to_owned())
        );
    }
}
