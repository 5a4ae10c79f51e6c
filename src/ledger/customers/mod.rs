//! Customers (Flexprice's `/v1/customers`): the record and the parsing of its requests.

pub(crate) mod handlers;
pub(crate) mod storage;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::input::{InputError, Obj};
use crate::store::Audit;

/// Longest external id, name or other short text.
pub(crate) const MAX_TEXT: usize = 255;
/// Longest email address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// A customer as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Customer {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub status: String,
    pub audit: Audit,
}

/// A validated `POST /v1/customers`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateCustomer {
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A validated `PUT /v1/customers/{id}`: only what was given changes. `email: Some(None)`
/// (an empty string) removes the address.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct UpdateCustomer {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A basic shape check: `local@domain.tld`, no spaces, one `@`, no empty domain labels.
pub(crate) fn check_email(field: &str, email: &str) -> Result<(), InputError> {
    let bad = || {
        InputError::new(
            field,
            format!("{field} must be an email address such as name@example.com"),
        )
    };
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let forbidden = |c: char| c.is_whitespace() || "@<>()[],;:\"\\".contains(c);
    if local.is_empty()
        || local.chars().count() > 64
        || local.chars().any(forbidden)
        || domain.chars().any(forbidden)
        || domain.split('.').count() < 2
        || domain.split('.').any(|label| label.is_empty())
    {
        return Err(bad());
    }
    Ok(())
}

/// An external id: required text, not blank.
fn external_id<'a>(obj: &mut Obj<'a>, required: bool) -> Result<Option<String>, InputError> {
    let value = obj.str("external_id", MAX_TEXT)?;
    match value {
        Some(v) if !v.trim().is_empty() => Ok(Some(v.to_owned())),
        _ if required => Err(InputError::new("external_id", "external_id is required")),
        Some(_) => Err(InputError::new(
            "external_id",
            "external_id must not be empty",
        )),
        None => Ok(None),
    }
}

/// The email field: `None` absent, `Some(None)` empty (no address), else a checked address.
fn email<'a>(obj: &mut Obj<'a>) -> Result<Option<Option<String>>, InputError> {
    match obj.str("email", MAX_EMAIL)? {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(e) => {
            check_email("email", e)?;
            Ok(Some(Some(e.to_owned())))
        }
    }
}

pub(crate) fn parse_create(body: &Value) -> Result<CreateCustomer, InputError> {
    let mut obj = Obj::root(body)?;
    let external_id = external_id(&mut obj, true)?.unwrap_or_default();
    let name = obj.str("name", MAX_TEXT)?.unwrap_or_default().to_owned();
    let email = email(&mut obj)?.flatten();
    let metadata = obj.string_map("metadata")?;
    obj.finish()?;
    Ok(CreateCustomer {
        external_id,
        name,
        email,
        metadata,
    })
}

pub(crate) fn parse_update(body: &Value) -> Result<UpdateCustomer, InputError> {
    let mut obj = Obj::root(body)?;
    let change = UpdateCustomer {
        external_id: external_id(&mut obj, false)?,
        name: obj.str("name", MAX_TEXT)?.map(str::to_owned),
        email: email(&mut obj)?,
        metadata: obj.string_map("metadata")?,
    };
    obj.finish()?;
    Ok(change)
}

impl Customer {
    /// A published customer with no name, email or metadata (tests' fixture).
    #[cfg(test)]
    pub(crate) fn sample(id: &str, env: &str, external_id: &str, at: i64) -> Customer {
        Customer {
            id: id.into(),
            tenant_id: "t".into(),
            environment_id: env.into(),
            external_id: external_id.into(),
            name: String::new(),
            email: None,
            metadata: None,
            status: "published".into(),
            audit: Audit::new("k", at),
        }
    }

    /// Applies an update; returns whether anything changed.
    pub(crate) fn apply(&mut self, change: UpdateCustomer) -> bool {
        let before = self.clone();
        if let Some(external_id) = change.external_id {
            self.external_id = external_id;
        }
        if let Some(name) = change.name {
            self.name = name;
        }
        if let Some(email) = change.email {
            self.email = email;
        }
        if let Some(metadata) = change.metadata {
            self.metadata = Some(metadata);
        }
        *self != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creates_with_defaults_and_checks_fields() {
        let c = parse_create(&json!({"external_id": "cus_1"})).unwrap();
        assert_eq!(
            (c.external_id.as_str(), c.name.as_str(), c.email, c.metadata),
            ("cus_1", "", None, None)
        );
        let c = parse_create(
            &json!({"external_id": "cus_1", "name": "Acme", "email": "a@b.io",
                                     "metadata": {"k": "v"}}),
        )
        .unwrap();
        assert_eq!(c.email.as_deref(), Some("a@b.io"));
        assert_eq!(c.metadata.unwrap()["k"], "v");
        let err = |v: Value| parse_create(&v).unwrap_err();
        assert_eq!(err(json!({})).message, "external_id is required");
        assert_eq!(err(json!({"external_id": " "})).field, "external_id");
        assert_eq!(err(json!({"external_id": 5})).field, "external_id");
        assert_eq!(
            err(json!({"external_id": "x", "email": "nope"})).field,
            "email"
        );
        assert_eq!(
            err(json!({"external_id": "x", "metadata": {"k": 1}})).field,
            "metadata.k"
        );
        assert_eq!(
            err(json!({"external_id": "x", "phone": "1"})).message,
            "phone is not a known field"
        );
    }

    #[test]
    fn email_shape() {
        for good in [
            "a@b.io",
            "first.last+tag@mail.example.com",
            "x@sub.domain.co.uk",
        ] {
            assert!(check_email("email", good).is_ok(), "{good}");
        }
        for bad in [
            "plain", "@b.io", "a@", "a@b", "a@b..io", "a@.io", "a b@c.io", "a@b@c.io", "a@b.io ",
            "<a@b.io>",
        ] {
            assert!(check_email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn updates_only_what_is_given() {
        let mut c = Customer {
            name: "Old".into(),
            email: Some("a@b.io".into()),
            ..Customer::sample("cust_1", "e", "x", 0)
        };
        assert!(!c.apply(parse_update(&json!({})).unwrap()));
        assert!(c.apply(parse_update(&json!({"name": "New", "email": ""})).unwrap()));
        assert_eq!((c.name.as_str(), c.email.as_deref()), ("New", None));
        assert_eq!(c.external_id, "x");
        assert_eq!(
            parse_update(&json!({"external_id": ""}))
                .unwrap_err()
                .message,
            "external_id must not be empty"
        );
    }
}
