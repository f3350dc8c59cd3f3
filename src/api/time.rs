//! Timestamps as the API shows and takes them: RFC 3339, milliseconds, UTC.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

use crate::error::{Error, Result};
use crate::store::Millis;

pub fn ts(ms: Millis) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 date-time; one without an offset is taken as UTC.
pub fn parse_ts(field: &str, s: &str) -> Result<Millis> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .or_else(|_| s.parse::<chrono::NaiveDateTime>().map(|d| d.and_utc().timestamp_millis()))
        .map_err(|_| Error::invalid(&["query", field], "expected an RFC 3339 date-time"))
}

pub fn opt_ts(field: &str, s: &Option<String>) -> Result<Option<Millis>> {
    s.as_deref().map(|s| parse_ts(field, s)).transpose()
}
