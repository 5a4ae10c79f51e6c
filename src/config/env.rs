//! `EXPORTD_<SECTION>_<KEY>` environment overrides, typed like the key's default.

use std::collections::BTreeMap;

use super::file::FileConfig;
use super::{CONFIG_PATH_ENV, ConfigError, invalid};

const ENV_PREFIX: &str = "EXPORTD_";

/// Writes `EXPORTD_<SECTION>_<KEY>` values into the table, typed like the key's default.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>, ConfigError> {
    let defaults = toml::Table::try_from(FileConfig::default())
        .map_err(|e| invalid("(defaults)", e.to_string()))?;
    // Longest section names first, so MANAGED_DESTINATION is not mistaken for another section.
    let mut sections: Vec<&String> = defaults.keys().collect();
    sections.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut warnings = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_PATH_ENV {
            continue;
        }
        let target = sections.iter().find_map(|section| {
            let upper = format!("{}_", section.to_ascii_uppercase());
            let key = rest.strip_prefix(&upper)?.to_ascii_lowercase();
            let default = defaults.get(section.as_str())?.as_table()?.get(&key)?;
            Some((section.as_str(), key, default))
        });
        let Some((section, key, default)) = target else {
            warnings.push(format!(
                "environment variable {name} is not a known setting; ignored"
            ));
            continue;
        };
        let value = match default {
            toml::Value::String(_) => toml::Value::String(raw.clone()),
            toml::Value::Integer(_) => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| invalid(name, format!("expected a whole number, got {raw:?}")))?,
            toml::Value::Boolean(_) => match raw.trim() {
                "true" | "1" => toml::Value::Boolean(true),
                "false" | "0" => toml::Value::Boolean(false),
                _ => {
                    return Err(invalid(
                        name,
                        format!("expected true or false, got {raw:?}"),
                    ));
                }
            },
            toml::Value::Array(a) if a.iter().all(toml::Value::is_str) => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            _ => {
                warnings.push(format!(
                    "environment variable {name} names {section}.{key}, which can only be set in the config file; ignored"
                ));
                continue;
            }
        };
        let entry = table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry.as_table_mut() {
            Some(t) => {
                t.insert(key, value);
            }
            None => return Err(invalid(section, "expected a table")),
        }
    }
    Ok(warnings)
}
