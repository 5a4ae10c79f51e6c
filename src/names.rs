//! Enums whose variants each have one name on the wire, in the database and in the config,
//! written once: [`named!`] declares the enum with `ALL`, `as_str`, `parse`, `names` and serde
//! (de)serialisation, all from the same list.
//!
//! A declarative macro rather than `strum`: it also derives the serde impls from the same
//! names (strum does not), and it costs no proc-macro crate.

/// Declares a field-less enum and its names:
///
/// ```ignore
/// named! {
///     /// Why a run exists.
///     pub(crate) enum Trigger { Scheduled = "scheduled", Manual = "manual" }
/// }
/// ```
macro_rules! named {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        #[allow(dead_code)]
        impl $name {
            /// Every variant, in declaration order.
            pub(crate) const ALL: [$name; $crate::names::count!($($variant)+)] =
                [$($name::$variant),+];

            /// The variant's name.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant with exactly this name.
            pub(crate) fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every name, comma-separated, for messages.
            pub(crate) fn names() -> String {
                [$($text),+].join(", ")
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!("unknown value {text:?}").into(),
                    )
                })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text)
                    .ok_or_else(|| serde::de::Error::unknown_variant(&text, &[$($text),+]))
            }
        }
    };
}

/// How many token trees it is given (the length of `ALL`).
macro_rules! count {
    () => { 0usize };
    ($head:tt $($tail:tt)*) => { 1usize + $crate::names::count!($($tail)*) };
}

pub(crate) use {count, named};

#[cfg(test)]
mod tests {
    named! {
        /// A test enum.
        enum Color { Red = "red", DarkBlue = "dark_blue" }
    }

    #[test]
    fn names_round_trip_through_every_form() {
        for c in Color::ALL {
            assert_eq!(Color::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Color>(&json).unwrap(), c);
        }
        assert_eq!(Color::names(), "red, dark_blue");
        assert_eq!(Color::parse("Red"), None);
        let err = serde_json::from_str::<Color>("\"green\"").unwrap_err();
        assert!(err.to_string().contains("red, dark_blue") || err.to_string().contains("`red`"));
    }
}
