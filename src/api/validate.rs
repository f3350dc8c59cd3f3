//! Input checks and shapes the faces share: identifiers, PATCH fields, repeated query parameters.

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// A list query parameter: comma-separated (as the Svix SDKs send it) and/or repeated.
pub fn multi(raw: Option<&str>, key: &str) -> Option<Vec<String>> {
    let values: Vec<String> = url::form_urlencoded::parse(raw?.as_bytes())
        .filter(|(k, _)| k == key || k.strip_suffix("[]") == Some(key))
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Names, uids, event types and channels share one alphabet.
pub fn check_ident(loc: &[&str], value: &str, max: usize) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(loc, format!("must be 1-{max} characters of a-z, A-Z, 0-9, '-', '_', '.'")))
    }
}

/// For PATCH bodies: absent → None, `null` → Some(None), a value → Some(Some(v)).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
