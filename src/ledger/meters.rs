//! Meters (SPEC 7.2), declared in the config: which events they count and how.
